package tasks

import (
	"fmt"
	"strings"
	"testing"

	"github.com/recur-ml/recur/lstm"
)

func TestValidateRejectsInvalidFields(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string // a substring of the error
	}{
		{"task", func(c *Config) { c.Task = "summarize" }, `"summarize"`},
		{"cell", func(c *Config) { c.Cell = "transformer" }, `"transformer"`},
		{"layers", func(c *Config) { c.Layers = 0 }, "layers"},
		{"hidden", func(c *Config) { c.Hidden = -1 }, "hidden"},
		{"embed", func(c *Config) { c.Embed = 0 }, "embedding"},
		{"outputs", func(c *Config) { c.Outputs = nil }, "no output"},
		{"vocabulary", func(c *Config) { c.Vocab = nil }, "vocabulary"},
		{"pool", func(c *Config) { c.Pool = "max" }, `"max"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := tinyConfig(TaskClassify, lstm.CellLSTM, "last")
			c.edit(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatalf("Validate of %+v returned no error", cfg)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
	caption := tinyConfig(TaskCaption, lstm.CellGRU, "")
	caption.Features = 0
	if err := caption.Validate(); err == nil {
		t.Error("Validate of a caption model without features returned no error")
	}
	images := tinyConfig(TaskClassify, lstm.CellGRU, "images")
	images.Rows = 0
	if err := images.Validate(); err == nil {
		t.Error("Validate of a classifier of images with 0 rows returned no error")
	}
}

// TestValidateAcceptsLargeVocabulary checks the size limit on a seq2seq LSTM with two
// vocabularies of 150,000 words, H = 2048, E = 256 and 2 layers. The embeddings have
// 2·150000·256 parameters, the two stacks 2·(4·2048·(256+2048+2) + 4·2048·(2048+2048+2)) and
// the head 150000·(2048+1). The sum, 489,073,136 (1.8 GiB of float32), is far below 2^32.
func TestValidateAcceptsLargeVocabulary(t *testing.T) {
	words := make([]string, 150000)
	words[0], words[1], words[2], words[3] = Pad, Unk, Start, End
	for i := 4; i < len(words); i++ {
		words[i] = fmt.Sprintf("w%d", i)
	}
	cfg := Config{Task: TaskSeq2Seq, Cell: lstm.CellLSTM, Layers: 2, Hidden: 2048, Embed: 256,
		Tokens: TokensWords, OutputTokens: TokensWords, Vocab: words, Outputs: words}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate of a model of 489,073,136 parameters: %v", err)
	}
}
