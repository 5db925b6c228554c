// Package report is the account an import gives of every construct it
// read: mapped (carried over with the same behaviour), approximated (carried
// over, with a difference the administrator should know), ignored (has no
// meaning for hbd or ldird, with the reason) or not mapped (dropped: the
// administrator must do something, and the item says what). Every item
// names the file and line it comes from.
package report

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Kind says what became of a construct.
type Kind int

// The kinds, in the order the report lists them (most urgent first).
const (
	Unmapped Kind = iota
	Approximated
	Ignored
	Mapped
)

func (k Kind) String() string {
	switch k {
	case Unmapped:
		return "NOT MAPPED"
	case Approximated:
		return "APPROX"
	case Ignored:
		return "IGNORED"
	case Mapped:
		return "MAPPED"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Pos is a place in an input file.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Item is one construct and what became of it.
type Item struct {
	Kind Kind
	Pos  Pos
	// What is the construct as written ("lb_algo rr").
	What string
	// Result is what it became ("scheduler = rr in ldirectord.cf"), or for
	// an ignored item why it has no meaning here.
	Result string
	// Advice is what the administrator should do (approximated and not
	// mapped items).
	Advice string
}

// Report collects the items of one import.
type Report struct {
	// Files orders the input files (the main one first) for sorting.
	Files []string
	Items []Item
}

func (r *Report) add(k Kind, p Pos, what, result, advice string) {
	r.Items = append(r.Items, Item{Kind: k, Pos: p, What: what, Result: result, Advice: advice})
}

// Mapped records a construct carried over with the same behaviour.
func (r *Report) Mapped(p Pos, what, result string) { r.add(Mapped, p, what, result, "") }

// Approx records a construct carried over with a difference.
func (r *Report) Approx(p Pos, what, result, advice string) {
	r.add(Approximated, p, what, result, advice)
}

// Ignored records a construct that has no meaning for hbd or ldird.
func (r *Report) Ignored(p Pos, what, why string) { r.add(Ignored, p, what, why, "") }

// Unmapped records a construct that was not carried over.
func (r *Report) Unmapped(p Pos, what, why, advice string) { r.add(Unmapped, p, what, why, advice) }

// Count returns how many items are of kind k.
func (r *Report) Count(k Kind) int {
	n := 0
	for _, it := range r.Items {
		if it.Kind == k {
			n++
		}
	}
	return n
}

// Sorted returns the items by kind (not mapped first), then file (in the
// order of Files), then line, keeping the mapping order for ties.
func (r *Report) Sorted() []Item {
	idx := map[string]int{}
	for i, f := range r.Files {
		if _, ok := idx[f]; !ok {
			idx[f] = i
		}
	}
	fileRank := func(f string) int {
		if i, ok := idx[f]; ok {
			return i
		}
		return len(idx)
	}
	out := append([]Item(nil), r.Items...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if fa, fb := fileRank(a.Pos.File), fileRank(b.Pos.File); fa != fb {
			return fa < fb
		}
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		return a.Pos.Line < b.Pos.Line
	})
	return out
}

// Line renders one item on one line: KIND  file:line  what: result; do: advice.
func (it Item) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s %s  %s", it.Kind, it.Pos, it.What)
	if it.Result != "" {
		b.WriteString(" -> " + it.Result)
	}
	if it.Advice != "" {
		b.WriteString("; do: " + it.Advice)
	}
	return b.String()
}

// Write prints the report: a summary line, then every item, one a line.
func (r *Report) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "lvsha-import: %d mapped, %d approximated, %d ignored, %d not mapped\n",
		r.Count(Mapped), r.Count(Approximated), r.Count(Ignored), r.Count(Unmapped))
	for _, it := range r.Sorted() {
		b.WriteString(it.Line())
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
