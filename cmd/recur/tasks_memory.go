package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/recur-ml/recur/tasks"
)

// physicalMemory returns the machine's memory in bytes (MemTotal in /proc/meminfo), or 0
// where it is unknown. Tests replace it.
var physicalMemory = func() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kib, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kib << 10
		}
	}
	return 0
}

// workspaceSet is one data set whose workspace a command allocates.
type workspaceSet struct {
	data     *tasks.Data
	beam     int
	backward bool
}

// checkWorkspaceMemory returns an error when the estimated workspaces of sets, all allocated
// at once, exceed the machine's memory. It names the longest example of the largest set.
func checkWorkspaceMemory(cfg tasks.Config, batch int, sets ...workspaceSet) error {
	limit := physicalMemory()
	if limit <= 0 {
		return nil
	}
	var total, largest int64
	var longest *tasks.Example
	var path string
	for _, s := range sets {
		if s.data == nil {
			continue
		}
		bytes, e := s.data.WorkspaceBytes(cfg, batch, s.beam, s.backward)
		total += bytes
		if bytes > largest {
			largest, longest, path = bytes, e, s.data.Path
		}
	}
	if total <= limit || longest == nil {
		return nil
	}
	return fmt.Errorf("%s:%d: the longest example (%d tokens) needs workspaces of about "+
		"%.1f GiB with --batch %d, more than the %.1f GiB of memory: shorten or split the "+
		"line, or lower --batch",
		path, longest.Line, max(len(longest.In), len(longest.Out)), float64(total)/(1<<30),
		batch, float64(limit)/(1<<30))
}
