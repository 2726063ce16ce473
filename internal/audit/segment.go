package audit

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Segment files are named by index, zero-padded so that name order is log order for
// shell globs, shippers and people alike.
const (
	segmentPrefix = "audit-"
	segmentSuffix = ".jsonl"
)

// segmentName is the file name of segment index i.
func segmentName(i uint64) string { return fmt.Sprintf("%s%08d%s", segmentPrefix, i, segmentSuffix) }

// parseSegmentName returns the index a segment file name carries.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, segmentPrefix)
	if !ok {
		return 0, false
	}
	if digits, ok = strings.CutSuffix(digits, segmentSuffix); !ok || digits == "" {
		return 0, false
	}
	i, err := strconv.ParseUint(digits, 10, 64)
	return i, err == nil && i > 0
}

// segmentFile is one segment file found in a log directory.
type segmentFile struct {
	index uint64
	path  string
}

// listSegments returns the segment files of dir in index order; other files are ignored.
func listSegments(dir string) ([]segmentFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segmentFile
	for _, e := range ents {
		if i, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			segs = append(segs, segmentFile{i, filepath.Join(dir, e.Name())})
		}
	}
	slices.SortFunc(segs, func(a, b segmentFile) int { return cmp.Compare(a.index, b.index) })
	return segs, nil
}

// resolvePaths expands the arguments of the audit commands into the files to read, in log
// order: a directory stands for its segment files in index order, a file for itself (so a
// shipped copy that concatenates segments can be read too).
func resolvePaths(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("no audit log path given")
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		segs, err := listSegments(p)
		if err != nil {
			return nil, err
		}
		if len(segs) == 0 {
			return nil, fmt.Errorf("%s holds no audit segments (%s*%s)", p, segmentPrefix, segmentSuffix)
		}
		for _, s := range segs {
			files = append(files, s.path)
		}
	}
	return files, nil
}
