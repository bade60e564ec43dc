package viz

import (
	"bufio"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
)

// Row is one coloured copy of a text: every character gets the colour of its value.
type Row struct {
	Label  string
	Values []float64 // one per character; NaN is drawn grey, as "no value"
	// Lo and Hi are the values drawn full blue and full red; their midpoint is white. Lo may
	// exceed Hi to reverse the scale.
	Lo, Hi float64
}

// Section is a text with its rows, drawn one row under the other.
type Section struct {
	Heading string
	Text    []rune
	Offset  int // index of Text[0] in Page.Top
	Rows    []Row
	Feature *Row // a row shown under the units for comparison, or nil
}

// Page is a self-contained HTML page: inline CSS and script, no external resources.
type Page struct {
	Title    string
	Summary  []string // lines shown under the title
	Sections []Section
	// Top maps a position (Section.Offset + index) to the model's most likely next
	// characters there, shown when a character is clicked or hovered.
	Top map[int][]Prediction
}

// RowRange returns the colour range of a state: [-1, 1] for h and g (tanh), [0, 1] for the
// sigmoid gates i, f and o, and ±max|v| of values for the unbounded cell state c.
func RowRange(state string, values []float64) (lo, hi float64) {
	switch state {
	case StateH, StateG:
		return -1, 1
	case StateI, StateF, StateO:
		return 0, 1
	}
	m := 0.0
	for _, v := range values {
		if !math.IsNaN(v) {
			m = math.Max(m, math.Abs(v))
		}
	}
	if m == 0 {
		m = 1
	}
	return -m, m
}

// Color maps v to a CSS colour on a diverging scale: blue at lo, white at the midpoint and red
// at hi, clamped outside. NaN is light grey.
func Color(v, lo, hi float64) string {
	if math.IsNaN(v) || lo == hi {
		return "#e0e0e0"
	}
	t := 2*(v-lo)/(hi-lo) - 1
	t = math.Max(-1, math.Min(1, t))
	// End points: ColorBrewer RdBu's darkest blue (33,102,172) and red (178,24,43).
	end := [3]float64{178, 24, 43}
	if t < 0 {
		end, t = [3]float64{33, 102, 172}, -t
	}
	var rgb [3]int
	for k := range rgb {
		rgb[k] = int(math.Round(255 + (end[k]-255)*t))
	}
	return fmt.Sprintf("#%02x%02x%02x", rgb[0], rgb[1], rgb[2])
}

const pageStyle = `body{font-family:sans-serif;margin:1.5em;color:#222}
h1{margin-right:9em}
.row{font-family:monospace;white-space:pre-wrap;tab-size:4;line-height:1.5;border:1px solid #ccc;padding:.5em;margin:.2em 0 1em}
.row span{cursor:pointer}
.label{font-weight:bold;margin-top:.6em}
.legend span{display:inline-block;width:3em;text-align:center;font-family:monospace}
#top{position:fixed;right:1em;top:1em;background:#fff;border:1px solid #888;padding:.5em;font-family:monospace;min-width:10em;white-space:pre}
section{border-top:2px solid #888;margin-top:1.5em}`

// pageScript shows the top-k predictions of the character under the pointer or clicked.
const pageScript = `(function(){
var top=JSON.parse(document.getElementById('topk').textContent);
var box=document.getElementById('top');
function name(c){return c==='\n'?'\\n':c===' '?'\u2423':c==='\t'?'\\t':c;}
function show(e){
 var s=e.target.closest?e.target.closest('span[data-i]'):null;
 if(!s)return;
 var p=top[s.getAttribute('data-i')];
 var lines=['after '+JSON.stringify(s.textContent)+' ('+s.getAttribute('title')+'):'];
 if(!p){lines.push('(no predictions recorded)');}
 else{for(var k=0;k<p.length;k++){lines.push(name(p[k].c)+'  '+(100*p[k].p).toFixed(1)+'%');}}
 box.textContent=lines.join('\n');
}
document.addEventListener('mouseover',show);
document.addEventListener('click',show);
})();`

// WritePage writes p as one HTML document.
func WritePage(out io.Writer, p Page) error {
	w := bufio.NewWriter(out)
	top, err := json.Marshal(p.Top) // escapes <, > and &, so it cannot close the script
	if err != nil {
		return err
	}
	title := html.EscapeString(p.Title)
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>%s</title>\n<style>%s</style></head>\n<body>\n<h1>%s</h1>\n", title, pageStyle, title)
	for _, line := range p.Summary {
		fmt.Fprintf(w, "<p>%s</p>\n", html.EscapeString(line))
	}
	w.WriteString(legend())
	w.WriteString("<div id=\"top\">hover or click a character\nfor the next-character predictions</div>\n")
	for _, s := range p.Sections {
		w.WriteString("<section>\n")
		if s.Heading != "" {
			fmt.Fprintf(w, "<h2>%s</h2>\n", html.EscapeString(s.Heading))
		}
		rows := s.Rows
		if s.Feature != nil {
			rows = append(rows[:len(rows):len(rows)], *s.Feature)
		}
		for _, r := range rows {
			writeRow(w, s, r)
		}
		w.WriteString("</section>\n")
	}
	fmt.Fprintf(w, "<script type=\"application/json\" id=\"topk\">%s</script>\n<script>%s</script>\n</body></html>\n", top, pageScript)
	return w.Flush()
}

// writeRow writes one row: a label, then one span per character with its colour and value.
func writeRow(w *bufio.Writer, s Section, r Row) {
	fmt.Fprintf(w, "<div class=\"label\">%s</div>\n<div class=\"row\">", html.EscapeString(r.Label))
	for i, c := range s.Text {
		v := r.Values[i]
		value := "no value"
		if !math.IsNaN(v) {
			value = strconv.FormatFloat(v, 'f', 4, 64)
		}
		// The newline stays a real newline, which white-space:pre-wrap shows as a line break.
		fmt.Fprintf(w, "<span data-i=\"%d\" style=\"background:%s\" title=\"%s = %s\">%s</span>",
			s.Offset+i, Color(v, r.Lo, r.Hi), html.EscapeString(r.Label), value, html.EscapeString(string(c)))
	}
	w.WriteString("</div>\n")
}

// legend returns a strip of the colour scale from its low end to its high end.
func legend() string {
	s := "<p class=\"legend\">scale: <span>low</span>"
	for k := -4; k <= 4; k++ {
		s += fmt.Sprintf("<span style=\"background:%s\">&nbsp;</span>", Color(float64(k), -4, 4))
	}
	return s + "<span>high</span> (per row: h and g −1…1, i, f and o 0…1, c ±max|c|, p(char) high blue to low red)</p>\n"
}
