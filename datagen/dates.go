package datagen

import (
	"fmt"
	"math"
	"strings"
	"time"
)

var datesDefaults = Options{Train: 40000, Val: 1000, Test: 2000}

const (
	firstDateYear = 1950
	lastDateYear  = 2049
	datesStream   = 0x6461746573
)

// dateFormats write a date as a source string. Each format is unambiguous: a month written
// as a word fixes the order, dots always mean day.month.year, slashes always mean
// month/day/year, and dashes or no separator between numbers always mean year, month, day.
var dateFormats = []func(time.Time) string{
	layout("2 January 2006"),          // 5 March 2019
	layout("January 2, 2006"),         // March 5, 2019
	layout("Jan 2 2006"),              // Mar 5 2019
	ordinalDate,                       // 5th of March 2019
	layout("2006-01-02"),              // 2019-03-05
	layout("02.01.2006"),              // 05.03.2019
	layout("1/2/2006"),                // 3/5/2019
	layout("Monday, January 2, 2006"), // Tuesday, March 5, 2019
	upperDate,                         // 05 MAR 2019
	layout("20060102"),                // 20190305
	layout("2-Jan-2006"),              // 5-Mar-2019
	layout("Mon 2 Jan 2006"),          // Tue 5 Mar 2019
}

func layout(l string) func(time.Time) string {
	return func(d time.Time) string { return d.Format(l) }
}

// ordinalDate writes d as "5th of March 2019".
func ordinalDate(d time.Time) string {
	return fmt.Sprintf("%d%s of %s %d", d.Day(), ordinalSuffix(d.Day()), d.Month(), d.Year())
}

// upperDate writes d as "05 MAR 2019".
func upperDate(d time.Time) string {
	return strings.ToUpper(d.Format("02 Jan 2006"))
}

// ordinalSuffix returns the English ordinal suffix of day: 1st, 2nd, 3rd, 4th, 11th, 21st.
func ordinalSuffix(day int) string {
	if day%100 >= 11 && day%100 <= 13 {
		return "th"
	}
	switch day % 10 {
	case 1:
		return "st"
	case 2:
		return "nd"
	case 3:
		return "rd"
	}
	return "th"
}

// Dates writes train.tsv, val.tsv and test.tsv into dir, creating dir if needed, with lines
// source<TAB>target. The target is a date from 1950-01-01 to 2049-12-31 written as YYYY-MM-DD
// and the source is the same date in one of the 12 formats of dateFormats, picked uniformly.
// The calendar dates are shuffled and cut into three disjoint pools in proportion to the
// split sizes, so no date of one split occurs in another split in any format. A date may
// occur more than once within a split, in the same or another format.
func Dates(dir string, opt Options) ([]OutputFile, error) {
	counts, err := opt.resolve("dates", datesDefaults, MaxLines)
	if err != nil {
		return nil, err
	}
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	rng := newRand(opt.Seed, datesStream)

	var days []time.Time
	end := time.Date(lastDateYear+1, 1, 1, 0, 0, 0, 0, time.UTC)
	first := time.Date(firstDateYear, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := first; d.Before(end); d = d.AddDate(0, 0, 1) {
		days = append(days, d)
	}
	rng.Shuffle(len(days), func(i, j int) { days[i], days[j] = days[j], days[i] })

	var splits [3][]string
	pools := poolSizes(len(days), counts)
	start := 0
	for s, count := range counts {
		pool := days[start : start+pools[s]]
		start += pools[s]
		lines := make([]string, count)
		for i := range lines {
			d := pool[rng.IntN(len(pool))]
			source := dateFormats[rng.IntN(len(dateFormats))](d)
			lines[i] = source + "\t" + d.Format("2006-01-02")
		}
		splits[s] = lines
	}
	return writeSplits(dir, splits)
}

// poolSizes cuts total items into three pools in proportion to counts, giving every pool at
// least one item. counts must be positive and total at least 3.
func poolSizes(total int, counts [3]int) [3]int {
	sum := float64(counts[0]) + float64(counts[1]) + float64(counts[2])
	var sizes [3]int
	// The train pool takes what the val and test pools leave.
	sizes[1] = max(1, int(math.Round(float64(total)*float64(counts[1])/sum)))
	sizes[2] = max(1, int(math.Round(float64(total)*float64(counts[2])/sum)))
	sizes[0] = total - sizes[1] - sizes[2]
	// When train is a tiny share, rounding can leave it nothing, so it takes items from the
	// larger of the other pools.
	for sizes[0] < 1 {
		if sizes[1] > sizes[2] {
			sizes[1]--
		} else {
			sizes[2]--
		}
		sizes[0]++
	}
	return sizes
}
