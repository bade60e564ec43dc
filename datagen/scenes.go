package datagen

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"

	"github.com/recur-ml/recur/safetensors"
)

var scenesDefaults = Options{Train: 30000, Val: 500, Test: 1000}

const (
	// SceneSize is the width and height of a scene in pixels.
	SceneSize = 24
	// FeatureDim is the length of a scene's feature vector.
	FeatureDim = 512

	quadrantSize = SceneSize / 2
	objectSize   = 5
	// Each object's colour is scaled by a brightness drawn uniformly from
	// [minBrightness, 1].
	minBrightness = 0.7
	featureNoise  = 0.05
	scenesStream  = 0x7363656e6573

	// The projection from pixels to features has a seed of its own, so features of scenes
	// made with different seeds come from the same projection.
	projectionSeed   = 0x70726f6a
	projectionStream = 0x656374696f6e
)

type sceneColour struct {
	name string
	rgb  [3]float32
}

var sceneColours = [4]sceneColour{
	{"red", [3]float32{1, colourFloor, colourFloor}},
	{"green", [3]float32{colourFloor, 1, colourFloor}},
	{"blue", [3]float32{colourFloor, colourFloor, 1}},
	{"yellow", [3]float32{1, 1, colourFloor}},
}

// colourFloor is the value of a colour's weak channels. Every object lights every channel,
// as real objects have a brightness besides their hue, so an object's shape shows in all
// three channels. With pure colours, no pixel of a blue triangle would ever be lit in
// training if (blue, triangle) is held out, and no learner could name its shape.
const colourFloor = 0.35

// sceneShape is a shape's singular and plural name and its objectSize×objectSize mask, where
// '#' marks a lit pixel.
type sceneShape struct {
	name, plural string
	mask         [objectSize]string
}

var sceneShapes = [4]sceneShape{
	{"circle", "circles", [objectSize]string{".###.", "#####", "#####", "#####", ".###."}},
	{"square", "squares", [objectSize]string{"#####", "#####", "#####", "#####", "#####"}},
	{"triangle", "triangles", [objectSize]string{"..#..", ".###.", ".###.", "#####", "#####"}},
	{"cross", "crosses", [objectSize]string{"..#..", "..#..", "#####", "..#..", "..#.."}},
}

// quadrantNames are indexed by 2·row + column, with row 0 at the top.
var quadrantNames = [4]string{"top left", "top right", "bottom left", "bottom right"}

var countWords = [4]string{1: "one", 2: "two", 3: "three"}

// heldOut contains the colour–shape combinations that occur only in the test split.
var heldOut = map[[2]string]bool{
	{"blue", "triangle"}: true,
	{"green", "circle"}:  true,
	{"yellow", "cross"}:  true,
	{"red", "square"}:    true,
}

// combination is an index into sceneColours and one into sceneShapes.
type combination struct{ colour, shape int }

// combinations returns the colour–shape combinations that heldOut contains when heldOutOnly is
// true, and the others when it is false.
func combinations(heldOutOnly bool) []combination {
	var list []combination
	for c, colour := range sceneColours {
		for s, shape := range sceneShapes {
			if heldOut[[2]string{colour.name, shape.name}] == heldOutOnly {
				list = append(list, combination{c, s})
			}
		}
	}
	return list
}

// scene is one image and what it shows. pixels has SceneSize rows of SceneSize RGB pixels.
type scene struct {
	combination
	count    int
	quadrant int
	pixels   []float32
}

func (s scene) caption() string {
	shape := sceneShapes[s.shape].name
	if s.count > 1 {
		shape = sceneShapes[s.shape].plural
	}
	return countWords[s.count] + " " + sceneColours[s.colour].name + " " + shape + " " +
		quadrantNames[s.quadrant]
}

// Scenes writes, for each split S in train, val and test, these files into dir, creating
// dir if needed:
//
//   - S.pixels.safetensors: F32 tensor "pixels" of shape [N, 24, 72], one row of 24 RGB
//     pixels in [0, 1] per image row.
//   - S.features.safetensors: F32 tensor "features" of shape [N, FeatureDim].
//   - S.features.npy: the same features in NumPy format version 1.0, dtype '<f4', C order.
//   - S.captions.tsv: lines image_index<TAB>caption, as in "two red circles top left".
//   - S.shapes.tsv: lines shape<TAB>image_index, where shape is the singular shape word.
//   - test-unseen.captions.tsv and test-unseen.shapes.tsv: the lines of the test scenes
//     whose colour–shape combination is held out, indexing the test split's arrays.
//
// It also writes test.png, a grid of the first 16 test scenes enlarged four times.
//
// A scene is a black 24×24 image with 1 to 3 objects of 5×5 pixels inside one quadrant, all
// of one shape (circle, square, triangle or cross) and one colour (red, green, blue or
// yellow). Objects are placed at random and never touch. Each object's colour is scaled by
// its own brightness in [0.7, 1]. The combinations (blue, triangle), (green, circle),
// (yellow, cross) and (red, square) never occur in train or val. In test, half the scenes,
// rounded down, show them and the rest show the other 12 combinations. No image occurs
// twice.
//
// The features stand in for a pretrained CNN's output: a fixed Gaussian projection of the
// 1728 flattened pixels, with entries of standard deviation 1/sqrt(1728), plus Gaussian
// noise of standard deviation 0.05 drawn anew for every scene.
func Scenes(dir string, opt Options) ([]OutputFile, error) {
	counts, err := opt.resolve("scenes", scenesDefaults, MaxScenes)
	if err != nil {
		return nil, err
	}
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	rng := newRand(opt.Seed, scenesStream)
	projection := newProjection()
	seen := map[[sha256.Size]byte]bool{}
	var files []OutputFile
	var testScenes []scene
	for s, count := range counts {
		scenes := drawSplit(rng, count, splitNames[s] == "test", seen)
		written, err := writeScenes(dir, splitNames[s], scenes, projection, rng)
		files = append(files, written...)
		if err != nil {
			return files, err
		}
		if splitNames[s] == "test" {
			testScenes = scenes
		}
	}

	path := filepath.Join(dir, "test.png")
	gridScenes := testScenes[:min(len(testScenes), 16)]
	if err := writeFileAtomic(path, func(w io.Writer) error { return writeGrid(w, gridScenes) }); err != nil {
		return files, err
	}
	return append(files, OutputFile{Path: path, Examples: len(gridScenes)}), nil
}

// drawSplit returns count scenes whose images are not in seen and adds them to seen. For
// the test split, count/2 scenes show held-out combinations, in random positions.
func drawSplit(rng *rand.Rand, count int, test bool, seen map[[sha256.Size]byte]bool) []scene {
	heldOutCombos, seenCombos := combinations(true), combinations(false)
	picks := make([]combination, count)
	for i := range picks {
		if test && i < count/2 {
			picks[i] = heldOutCombos[rng.IntN(len(heldOutCombos))]
		} else {
			picks[i] = seenCombos[rng.IntN(len(seenCombos))]
		}
	}
	rng.Shuffle(len(picks), func(i, j int) { picks[i], picks[j] = picks[j], picks[i] })

	scenes := make([]scene, count)
	for i, pick := range picks {
		for {
			sc := drawScene(rng, pick)
			key := hashPixels(sc.pixels)
			if !seen[key] {
				seen[key] = true
				scenes[i] = sc
				break
			}
		}
	}
	return scenes
}

func hashPixels(pixels []float32) [sha256.Size]byte {
	buf := make([]byte, 4*len(pixels))
	for i, v := range pixels {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	return sha256.Sum256(buf)
}

// drawScene draws 1 to 3 objects of combination c into one random quadrant.
func drawScene(rng *rand.Rand, c combination) scene {
	sc := scene{
		combination: c,
		count:       1 + rng.IntN(3),
		quadrant:    rng.IntN(4),
		pixels:      make([]float32, SceneSize*SceneSize*3),
	}
	top := (sc.quadrant / 2) * quadrantSize
	left := (sc.quadrant % 2) * quadrantSize
	mask := sceneShapes[c.shape].mask
	rgb := sceneColours[c.colour].rgb
	for _, corner := range placeObjects(rng, sc.count) {
		brightness := minBrightness + (1-minBrightness)*rng.Float32()
		for dy, row := range mask {
			for dx := range objectSize {
				if row[dx] != '#' {
					continue
				}
				y, x := top+corner[0]+dy, left+corner[1]+dx
				for ch, value := range rgb {
					sc.pixels[(y*SceneSize+x)*3+ch] = value * brightness
				}
			}
		}
	}
	return sc
}

// placeObjects returns count top-left corners (row, column) of objects inside a quadrant,
// in distinct slots of a 2×2 grid whose cells are objectSize+2 pixels apart. Fixed slots
// keep the shape of an object a nearly linear function of the pixels, which is what a
// random projection preserves. With objects anywhere in the quadrant, the models tried named
// the shape of an unseen colour–shape combination in 10 to 16% of the scenes.
func placeObjects(rng *rand.Rand, count int) [][2]int {
	const far = quadrantSize - objectSize
	slots := [4][2]int{{0, 0}, {0, far}, {far, 0}, {far, far}}
	corners := make([][2]int, 0, count)
	for _, i := range rng.Perm(len(slots))[:count] {
		corners = append(corners, slots[i])
	}
	return corners
}

// projection maps flattened pixels to features. weights[j] is the column that pixel value j
// adds to the features, so a scene's mostly black pixels cost nothing.
type projection struct {
	weights [][FeatureDim]float32
}

func newProjection() projection {
	const inputs = SceneSize * SceneSize * 3
	rng := newRand(projectionSeed, projectionStream)
	scale := 1 / math.Sqrt(inputs)
	p := projection{weights: make([][FeatureDim]float32, inputs)}
	for j := range p.weights {
		for k := range FeatureDim {
			p.weights[j][k] = float32(rng.NormFloat64() * scale)
		}
	}
	return p
}

// features returns the projection of pixels plus Gaussian noise from rng.
func (p projection) features(pixels []float32, rng *rand.Rand) [FeatureDim]float32 {
	var sum [FeatureDim]float64
	for j, v := range pixels {
		if v == 0 {
			continue
		}
		for k, w := range p.weights[j] {
			// The explicit conversion keeps the compiler from fusing the multiply and add,
			// which would change the last bits on some architectures.
			sum[k] += float64(float64(v) * float64(w))
		}
	}
	var out [FeatureDim]float32
	for k := range out {
		out[k] = float32(sum[k] + featureNoise*rng.NormFloat64())
	}
	return out
}

// writeScenes writes the pixels, features, captions and shape labels of one split.
func writeScenes(dir, split string, scenes []scene, proj projection, rng *rand.Rand) ([]OutputFile, error) {
	n := len(scenes)
	pixels := make([]float32, 0, n*SceneSize*SceneSize*3)
	features := make([]float32, 0, n*FeatureDim)
	captions := make([]string, n)
	shapes := make([]string, n)
	var unseenCaptions, unseenShapes []string
	for i, sc := range scenes {
		pixels = append(pixels, sc.pixels...)
		f := proj.features(sc.pixels, rng)
		features = append(features, f[:]...)
		captions[i] = strconv.Itoa(i) + "\t" + sc.caption()
		shapes[i] = sceneShapes[sc.shape].name + "\t" + strconv.Itoa(i)
		if heldOut[[2]string{sceneColours[sc.colour].name, sceneShapes[sc.shape].name}] {
			unseenCaptions = append(unseenCaptions, captions[i])
			unseenShapes = append(unseenShapes, shapes[i])
		}
	}

	writeTensor := func(tensor string, shape []int, data []float32) func(string) error {
		return func(path string) error {
			var f safetensors.File
			f.AddFloat32(tensor, shape, data)
			return safetensors.WriteFile(path, &f)
		}
	}
	steps := []struct {
		name  string
		write func(path string) error
	}{
		{"pixels.safetensors", writeTensor("pixels", []int{n, SceneSize, SceneSize * 3}, pixels)},
		{"features.safetensors", writeTensor("features", []int{n, FeatureDim}, features)},
		{"features.npy", func(path string) error {
			return writeFileAtomic(path, func(w io.Writer) error {
				return writeNPY(w, []int{n, FeatureDim}, features)
			})
		}},
		{"captions.tsv", func(path string) error { return writeLines(path, captions) }},
		{"shapes.tsv", func(path string) error { return writeLines(path, shapes) }},
	}
	var files []OutputFile
	for _, step := range steps {
		path := filepath.Join(dir, split+"."+step.name)
		if err := step.write(path); err != nil {
			return files, err
		}
		files = append(files, OutputFile{Path: path, Examples: n})
	}
	if len(unseenCaptions) == 0 {
		return files, nil
	}
	// The held-out combinations again, on their own, so that a prediction run scores them
	// apart from the rest.
	for _, sub := range []struct {
		name  string
		lines []string
	}{{"unseen.captions.tsv", unseenCaptions}, {"unseen.shapes.tsv", unseenShapes}} {
		path := filepath.Join(dir, split+"-"+sub.name)
		if err := writeLines(path, sub.lines); err != nil {
			return files, err
		}
		files = append(files, OutputFile{Path: path, Examples: len(sub.lines)})
	}
	return files, nil
}
