package datagen

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recur-ml/recur/safetensors"
)

// small keeps every test fast, with enough test scenes to fill the PNG grid.
var small = Options{Seed: 7, Train: 300, Val: 40, Test: 60}

// generate runs task with opt into a new temporary directory and returns the directory.
func generate(t *testing.T, task string, opt Options) string {
	t.Helper()
	tk, err := Lookup(task)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out", task) // a missing parent must be created
	files, err := tk.Generate(dir, opt)
	if err != nil {
		t.Fatalf("%s: %v", task, err)
	}
	for _, f := range files {
		if _, err := os.Stat(f.Path); err != nil {
			t.Errorf("%s reported %s: %v", task, f.Path, err)
		}
	}
	return dir
}

// readLines returns the lines of path, failing when the file does not end with '\n'.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if text == "" {
		return nil
	}
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("%s does not end with a newline", path)
	}
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}

// readSplits returns the lines of train.tsv, val.tsv and test.tsv in dir.
func readSplits(t *testing.T, dir string) [3][]string {
	t.Helper()
	var splits [3][]string
	for s, name := range splitNames {
		splits[s] = readLines(t, filepath.Join(dir, name+".tsv"))
	}
	return splits
}

// fields splits line at tabs and fails unless there are exactly two fields.
func fields(t *testing.T, line string) (string, string) {
	t.Helper()
	parts := strings.Split(line, "\t")
	if len(parts) != 2 {
		t.Fatalf("line %q has %d tab-separated fields, want 2", line, len(parts))
	}
	return parts[0], parts[1]
}

// checkCounts fails unless the splits have the sizes in opt.
func checkCounts(t *testing.T, splits [3][]string, opt Options) {
	t.Helper()
	want := [3]int{opt.Train, opt.Val, opt.Test}
	for s := range splits {
		if len(splits[s]) != want[s] {
			t.Errorf("%s has %d lines, want %d", splitNames[s], len(splits[s]), want[s])
		}
	}
}

// checkDisjoint fails when a line occurs in two splits.
func checkDisjoint(t *testing.T, splits [3][]string) {
	t.Helper()
	first := map[string]int{}
	for s, lines := range splits {
		for _, line := range lines {
			if prev, ok := first[line]; ok && prev != s {
				t.Errorf("line %q is in both %s and %s", line, splitNames[prev], splitNames[s])
			}
			first[line] = s
		}
	}
}

func TestDeterminism(t *testing.T) {
	for _, task := range TaskNames() {
		a := generate(t, task, small)
		b := generate(t, task, small)
		entries, err := os.ReadDir(a)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			t.Fatalf("%s wrote no files", task)
		}
		for _, e := range entries {
			want, err := os.ReadFile(filepath.Join(a, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(b, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: %s differs between two runs with seed %d", task, e.Name(), small.Seed)
			}
		}
	}
}

func TestSeedChangesData(t *testing.T) {
	other := small
	other.Seed++
	for _, task := range TaskNames() {
		name := "train.tsv"
		if task == "scenes" {
			name = "train.pixels.safetensors"
		}
		first, err := os.ReadFile(filepath.Join(generate(t, task, small), name))
		if err != nil {
			t.Fatal(err)
		}
		second, err := os.ReadFile(filepath.Join(generate(t, task, other), name))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(first, second) {
			t.Errorf("%s: seeds %d and %d give the same %s", task, small.Seed, other.Seed, name)
		}
	}
}

func TestDefaultsAndNegativeCounts(t *testing.T) {
	counts, err := Options{Val: 5}.resolve("tag", tagDefaults, MaxLines)
	if err != nil {
		t.Fatal(err)
	}
	if want := [3]int{10000, 5, 1000}; counts != want {
		t.Errorf("resolve: counts %v, want %v", counts, want)
	}
	_, err = Classify(t.TempDir(), Options{Train: 10, Val: -1, Test: 10})
	if err == nil || !strings.Contains(err.Error(), "invalid Val count -1") {
		t.Errorf("Classify with Val -1: error %v, want one naming the invalid Val count", err)
	}
}

func TestLookupUnknownTask(t *testing.T) {
	_, err := Lookup("sort")
	if err == nil || !strings.Contains(err.Error(), `unknown task "sort"`) ||
		!strings.Contains(err.Error(), "classify, tag, dates, scenes") {
		t.Errorf("Lookup(sort): error %v, want one naming the task and listing the known ones", err)
	}
}

func TestTagDepths(t *testing.T) {
	splits := readSplits(t, generate(t, "tag", small))
	checkCounts(t, splits, small)
	checkDisjoint(t, splits)
	deepest := 0
	for _, lines := range splits {
		for _, line := range lines {
			tokenField, tagField := fields(t, line)
			tokens := strings.Split(tokenField, " ")
			tags := strings.Split(tagField, " ")
			if len(tokens) != len(tags) {
				t.Errorf("line %q has %d tokens and %d tags", line, len(tokens), len(tags))
				continue
			}
			if len(tokens) < minTagTokens || len(tokens) > maxTagTokens {
				t.Errorf("line %q has %d tokens, want %d to %d", line, len(tokens), minTagTokens, maxTagTokens)
			}
			depth := 0
			for i, token := range tokens {
				switch {
				case token == "(":
					depth++
				case token == ")":
					depth--
				case !slices.Contains(tagWords[:], token):
					t.Errorf("line %q: token %q is not in the vocabulary", line, token)
				}
				if depth < 0 || depth > maxTagDepth {
					t.Errorf("line %q: depth %d after token %d is outside 0..%d", line, depth, i, maxTagDepth)
				}
				deepest = max(deepest, depth)
				if want := "d" + strconv.Itoa(depth); tags[i] != want {
					t.Errorf("line %q: tag %d is %s, want %s", line, i, tags[i], want)
				}
			}
			if depth != 0 {
				t.Errorf("line %q ends at depth %d, want 0", line, depth)
			}
		}
	}
	if deepest != maxTagDepth {
		t.Errorf("deepest nesting is %d, want lines that reach %d", deepest, maxTagDepth)
	}
}

// dateLayouts are time.Parse layouts for every source format except the ordinal one.
var dateLayouts = []string{
	"2 January 2006", "January 2, 2006", "Jan 2 2006", "2006-01-02", "02.01.2006", "1/2/2006",
	"Monday, January 2, 2006", "02 Jan 2006", "20060102", "2-Jan-2006", "Mon 2 Jan 2006",
}

var ordinalPattern = regexp.MustCompile(`^(\d{1,2})(st|nd|rd|th) of ([A-Z][a-z]+ \d{4})$`)

// parseSource returns the date that source denotes and the layout that matched. A layout
// matches only when formatting the date with it gives source back, ignoring case, which
// also checks weekday names and leading zeros.
func parseSource(source string) (time.Time, string, bool) {
	if m := ordinalPattern.FindStringSubmatch(source); m != nil {
		d, err := time.Parse("2 January 2006", m[1]+" "+m[3])
		if err != nil || ordinalSuffix(d.Day()) != m[2] {
			return time.Time{}, "", false
		}
		return d, "ordinal", true
	}
	for _, l := range dateLayouts {
		d, err := time.Parse(l, source)
		if err == nil && strings.EqualFold(d.Format(l), source) {
			return d, l, true
		}
	}
	return time.Time{}, "", false
}

func TestDatesSourceMatchesTarget(t *testing.T) {
	opt := Options{Seed: 3, Train: 2000, Val: 100, Test: 200}
	splits := readSplits(t, generate(t, "dates", opt))
	checkCounts(t, splits, opt)
	layoutsSeen := map[string]bool{}
	first := time.Date(firstDateYear, 1, 1, 0, 0, 0, 0, time.UTC)
	last := time.Date(lastDateYear, 12, 31, 0, 0, 0, 0, time.UTC)
	for _, lines := range splits {
		for _, line := range lines {
			source, target := fields(t, line)
			want, err := time.Parse("2006-01-02", target)
			if err != nil {
				t.Errorf("line %q: target: %v", line, err)
				continue
			}
			if want.Before(first) || want.After(last) {
				t.Errorf("line %q: target is outside %d to %d", line, firstDateYear, lastDateYear)
			}
			got, layout, ok := parseSource(source)
			if !ok {
				t.Errorf("line %q: the source matches no known format", line)
				continue
			}
			layoutsSeen[layout] = true
			if !got.Equal(want) {
				t.Errorf("line %q: source parses as %s with layout %q", line, got.Format("2006-01-02"), layout)
			}
		}
	}
	if len(layoutsSeen) < 10 {
		t.Errorf("sources use %d formats, want at least 10: %v", len(layoutsSeen), layoutsSeen)
	}
}

func TestDatesSplitByDate(t *testing.T) {
	splits := readSplits(t, generate(t, "dates", small))
	checkCounts(t, splits, small)
	checkDisjoint(t, splits)
	dateSplit := map[string]int{}
	for s, lines := range splits {
		for _, line := range lines {
			_, target := fields(t, line)
			if prev, ok := dateSplit[target]; ok && prev != s {
				t.Errorf("date %s is in both %s and %s", target, splitNames[prev], splitNames[s])
			}
			dateSplit[target] = s
		}
	}
}

func TestPoolSizes(t *testing.T) {
	cases := []struct {
		total  int
		counts [3]int
		want   [3]int
	}{
		{100, [3]int{80, 10, 10}, [3]int{80, 10, 10}},
		{100, [3]int{1, 1, 1}, [3]int{34, 33, 33}},
		{10, [3]int{1, 1000, 1000}, [3]int{1, 5, 4}}, // rounding leaves train nothing
		{3, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
	}
	for _, c := range cases {
		got := poolSizes(c.total, c.counts)
		if got != c.want {
			t.Errorf("poolSizes(%d, %v) = %v, want %v", c.total, c.counts, got, c.want)
		}
	}
}

// sceneSplit is one split of the scenes task as read back from disk.
type sceneSplit struct {
	pixels   []float32
	features []float32
	captions []string
	shapes   []string
}

// readSceneSplit reads the files of one split, checking tensor names, dtypes and shapes.
func readSceneSplit(t *testing.T, dir, split string, n int) sceneSplit {
	t.Helper()
	var out sceneSplit
	tensors := []struct {
		file, name string
		shape      []int
		dst        *[]float32
	}{
		{"pixels.safetensors", "pixels", []int{n, SceneSize, SceneSize * 3}, &out.pixels},
		{"features.safetensors", "features", []int{n, FeatureDim}, &out.features},
	}
	for _, tc := range tensors {
		f, err := safetensors.ReadFile(filepath.Join(dir, split+"."+tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if names := f.Names(); !slices.Equal(names, []string{tc.name}) {
			t.Errorf("%s.%s has tensors %v, want only %q", split, tc.file, names, tc.name)
		}
		values, shape, err := f.Float32(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(shape, tc.shape) {
			t.Errorf("%s.%s: shape %v, want %v", split, tc.file, shape, tc.shape)
		}
		*tc.dst = values
	}
	out.captions = readLines(t, filepath.Join(dir, split+".captions.tsv"))
	out.shapes = readLines(t, filepath.Join(dir, split+".shapes.tsv"))
	if len(out.captions) != n || len(out.shapes) != n {
		t.Fatalf("%s: %d captions and %d shape labels, want %d of each", split, len(out.captions), len(out.shapes), n)
	}
	return out
}

// parseNPY decodes a NumPy version 1.0 file of little-endian float32 values in C order.
func parseNPY(t *testing.T, data []byte) ([]int, []float32) {
	t.Helper()
	if !bytes.HasPrefix(data, []byte("\x93NUMPY\x01\x00")) {
		t.Fatalf("npy: the file starts with %q, want the magic string and version 1.0", data[:min(8, len(data))])
	}
	headerLen := int(binary.LittleEndian.Uint16(data[8:10]))
	if (10+headerLen)%64 != 0 {
		t.Errorf("npy: the data starts at byte %d, want a multiple of 64", 10+headerLen)
	}
	header := string(data[10 : 10+headerLen])
	if !strings.HasSuffix(header, "\n") {
		t.Errorf("npy: header %q does not end with a newline", header)
	}
	m := regexp.MustCompile(`^\{'descr': '<f4', 'fortran_order': False, 'shape': \((\d+), (\d+)\), \} *\n$`).
		FindStringSubmatch(header)
	if m == nil {
		t.Fatalf("npy: header %q is not a float32, C-order, two-dimensional array", header)
	}
	rows, _ := strconv.Atoi(m[1])
	cols, _ := strconv.Atoi(m[2])
	body := data[10+headerLen:]
	if len(body) != 4*rows*cols {
		t.Fatalf("npy: %d data bytes, want %d for shape (%d, %d)", len(body), 4*rows*cols, rows, cols)
	}
	values := make([]float32, rows*cols)
	for i := range values {
		values[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
	}
	return []int{rows, cols}, values
}

// components returns the number of 4-connected regions of lit pixels in one image, and
// the sum of each channel over the lit pixels.
func components(pixels []float32) (int, [3]float64, []int) {
	lit := func(i int) bool { return pixels[3*i] > 0 || pixels[3*i+1] > 0 || pixels[3*i+2] > 0 }
	visited := make([]bool, SceneSize*SceneSize)
	var sums [3]float64
	var litIndices []int
	count := 0
	for start := range visited {
		if visited[start] || !lit(start) {
			continue
		}
		count++
		stack := []int{start}
		visited[start] = true
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			litIndices = append(litIndices, i)
			for ch := range sums {
				sums[ch] += float64(pixels[3*i+ch])
			}
			y, x := i/SceneSize, i%SceneSize
			for _, d := range [4][2]int{{-1, 0}, {1, 0}, {0, -1}, {0, 1}} {
				ny, nx := y+d[0], x+d[1]
				if ny < 0 || ny >= SceneSize || nx < 0 || nx >= SceneSize {
					continue
				}
				j := ny*SceneSize + nx
				if !visited[j] && lit(j) {
					visited[j] = true
					stack = append(stack, j)
				}
			}
		}
	}
	return count, sums, litIndices
}

// dominantColour names the colour whose channels carry at least half of the largest
// channel sum: red, green, blue, or yellow for red and green together.
func dominantColour(sums [3]float64) string {
	top := max(sums[0], sums[1], sums[2])
	strong := [3]bool{}
	for ch, s := range sums {
		strong[ch] = s >= top/2
	}
	switch strong {
	case [3]bool{true, false, false}:
		return "red"
	case [3]bool{false, true, false}:
		return "green"
	case [3]bool{false, false, true}:
		return "blue"
	case [3]bool{true, true, false}:
		return "yellow"
	}
	return "mixed"
}

var captionPattern = regexp.MustCompile(`^(one|two|three) (red|green|blue|yellow) ` +
	`(circle|square|triangle|cross|circles|squares|triangles|crosses) (top|bottom) (left|right)$`)

func TestScenesFiles(t *testing.T) {
	dir := generate(t, "scenes", small)
	counts := [3]int{small.Train, small.Val, small.Test}
	countOf := map[string]int{"one": 1, "two": 2, "three": 3}
	singular := map[string]string{}
	for _, s := range sceneShapes {
		singular[s.name], singular[s.plural] = s.name, s.name
	}
	imageSize := SceneSize * SceneSize * 3

	for s, split := range splitNames {
		n := counts[s]
		data := readSceneSplit(t, dir, split, n)
		heldScenes := 0
		for i := range n {
			index, caption := fields(t, data.captions[i])
			if index != strconv.Itoa(i) {
				t.Errorf("%s caption line %d has index %s", split, i, index)
			}
			m := captionPattern.FindStringSubmatch(caption)
			if m == nil {
				t.Errorf("%s caption %q does not match count colour shape position", split, caption)
				continue
			}
			count, colour, shape := countOf[m[1]], m[2], singular[m[3]]
			if (count > 1) != (m[3] != shape) {
				t.Errorf("%s caption %q: the shape is plural exactly when the count is above one", split, caption)
			}
			label, labelIndex := fields(t, data.shapes[i])
			if label != shape || labelIndex != strconv.Itoa(i) {
				t.Errorf("%s shape line %q, want %s<TAB>%d", split, data.shapes[i], shape, i)
			}
			if heldOut[[2]string{colour, shape}] {
				heldScenes++
			}

			pixels := data.pixels[i*imageSize : (i+1)*imageSize]
			for _, v := range pixels {
				if v < 0 || v > 1 {
					t.Fatalf("%s image %d has pixel value %v outside [0, 1]", split, i, v)
				}
			}
			got, sums, lit := components(pixels)
			if got != count {
				t.Errorf("%s image %d has %d objects, but its caption is %q", split, i, got, caption)
			}
			if d := dominantColour(sums); d != colour {
				t.Errorf("%s image %d is mostly %s (channel sums %v), but its caption is %q", split, i, d, sums, caption)
			}
			rowHalf, colHalf := m[4] == "bottom", m[5] == "right"
			for _, p := range lit {
				if (p/SceneSize >= quadrantSize) != rowHalf || (p%SceneSize >= quadrantSize) != colHalf {
					t.Errorf("%s image %d has a lit pixel at row %d column %d, outside the %s %s quadrant",
						split, i, p/SceneSize, p%SceneSize, m[4], m[5])
					break
				}
			}
		}
		if split != "test" && heldScenes > 0 {
			t.Errorf("%s has %d scenes of held-out colour–shape combinations, want 0", split, heldScenes)
		}
		if split == "test" && heldScenes != n/2 {
			t.Errorf("test has %d of %d scenes of held-out combinations, want %d", heldScenes, n, n/2)
		}

		npy, err := os.ReadFile(filepath.Join(dir, split+".features.npy"))
		if err != nil {
			t.Fatal(err)
		}
		shape, values := parseNPY(t, npy)
		if !slices.Equal(shape, []int{n, FeatureDim}) {
			t.Errorf("%s.features.npy: shape %v, want [%d %d]", split, shape, n, FeatureDim)
		}
		if !slices.Equal(values, data.features) {
			t.Errorf("%s.features.npy and %s.features.safetensors hold different values", split, split)
		}
	}

	png, err := os.ReadFile(filepath.Join(dir, "test.png"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("test.png does not start with the PNG signature")
	}
}

// TestScenesFeatures checks that features are the projection of the pixels plus noise of
// standard deviation about featureNoise.
func TestScenesFeatures(t *testing.T) {
	dir := generate(t, "scenes", small)
	data := readSceneSplit(t, dir, "train", small.Train)
	proj := newProjection()
	imageSize := SceneSize * SceneSize * 3
	var sumSquares float64
	for i := range small.Train {
		var clean [FeatureDim]float64
		for j, v := range data.pixels[i*imageSize : (i+1)*imageSize] {
			for k, w := range proj.weights[j] {
				clean[k] += float64(v) * float64(w)
			}
		}
		for k := range FeatureDim {
			diff := float64(data.features[i*FeatureDim+k]) - clean[k]
			sumSquares += diff * diff
		}
	}
	std := math.Sqrt(sumSquares / float64(small.Train*FeatureDim))
	if math.Abs(std-featureNoise) > 0.005 {
		t.Errorf("features differ from the projection by %.4f on average, want noise of %v", std, featureNoise)
	}
}

func TestHugeCountRejectedBeforeDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	_, err := Tag(dir, Options{Train: MaxLines + 1})
	if err == nil {
		t.Fatalf("Tag accepted %d training lines", MaxLines+1)
	}
	if !strings.Contains(err.Error(), "at most 10000000") {
		t.Errorf("error %q does not state the limit", err)
	}
	if _, statErr := os.Stat(dir); !os.IsNotExist(statErr) {
		t.Errorf("Tag created %s before rejecting the count (stat error %v)", dir, statErr)
	}
	if _, err := Scenes(dir, Options{Test: MaxScenes + 1}); err == nil {
		t.Errorf("Scenes accepted %d test scenes", MaxScenes+1)
	}
}
