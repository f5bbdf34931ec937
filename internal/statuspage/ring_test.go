package statuspage

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// svgDoc is the part of RingSVG's output the tests read back.
type svgDoc struct {
	XMLName xml.Name  `xml:"svg"`
	Paths   []svgPath `xml:"path"`
	Arcs    []svgPath // Paths of class arc: the partitions
	Shares  []svgPath // Paths of class share: the owners' shares
	Legend  []struct {
		Owner string `xml:"data-owner,attr"`
		Rect  struct {
			Fill string `xml:"fill,attr"`
		} `xml:"rect"`
		Text string `xml:"text"`
	} `xml:"g>g"`
	Texts []string `xml:"text"`
}

type svgPath struct {
	Class  string `xml:"class,attr"`
	Owner  string `xml:"data-owner,attr"`
	First  int    `xml:"data-first,attr"`
	Last   int    `xml:"data-last,attr"`
	Stroke string `xml:"stroke,attr"`
	D      string `xml:"d,attr"`
	Title  string `xml:"title"`
}

func parseSVG(t *testing.T, s string) svgDoc {
	t.Helper()
	var d svgDoc
	if err := xml.Unmarshal([]byte(s), &d); err != nil {
		t.Fatalf("RingSVG is not well-formed XML: %v\n%s", err, s)
	}
	for _, p := range d.Paths {
		switch p.Class {
		case "arc":
			d.Arcs = append(d.Arcs, p)
		case "share":
			d.Shares = append(d.Shares, p)
		default:
			t.Errorf("path of class %q", p.Class)
		}
	}
	return d
}

func TestRingSVGOneArcPerRun(t *testing.T) {
	type arc struct {
		owner       string
		first, last int
	}
	for _, tc := range []struct {
		name   string
		owners []string
		arcs   []arc
	}{
		{"one owner", []string{"a", "a", "a"}, []arc{{"a", 0, 2}}},
		{"alternating", []string{"a", "b", "a", "b"}, []arc{{"a", 0, 0}, {"b", 1, 1}, {"a", 2, 2}, {"b", 3, 3}}},
		{"runs", []string{"a", "a", "b", "c", "c", "c", "a"}, []arc{{"a", 0, 1}, {"b", 2, 2}, {"c", 3, 5}, {"a", 6, 6}}},
		{"single partition", []string{"z"}, []arc{{"z", 0, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := parseSVG(t, RingSVG(tc.owners))
			if len(d.Arcs) != len(tc.arcs) {
				t.Fatalf("%d arcs, want %d: %+v", len(d.Arcs), len(tc.arcs), d.Arcs)
			}
			covered := 0
			for i, a := range d.Arcs {
				if want := tc.arcs[i]; a.Owner != want.owner || a.First != want.first || a.Last != want.last {
					t.Errorf("arc %d: %s %d-%d, want %+v", i, a.Owner, a.First, a.Last, want)
				}
				if a.Stroke != Colour(a.Owner) {
					t.Errorf("arc %d of %s drawn in %s, want %s", i, a.Owner, a.Stroke, Colour(a.Owner))
				}
				if !strings.HasPrefix(a.D, "M") || !strings.Contains(a.D, "A") {
					t.Errorf("arc %d: path %q is not an arc", i, a.D)
				}
				if !strings.HasPrefix(a.Title, a.Owner+": partition") {
					t.Errorf("arc %d: title %q", i, a.Title)
				}
				covered += a.Last - a.First + 1
			}
			if covered != len(tc.owners) {
				t.Errorf("arcs cover %d partitions, want %d", covered, len(tc.owners))
			}
		})
	}
}

func TestRingSVGLegend(t *testing.T) {
	owners := []string{"n2", "n1", "n1", "n3", "n1", "n2", "n1", "n1"}
	d := parseSVG(t, RingSVG(owners))
	want := []struct {
		owner string
		text  string
	}{{"n1", "n1 · 5 · 62.5%"}, {"n2", "n2 · 2 · 25.0%"}, {"n3", "n3 · 1 · 12.5%"}}
	if len(d.Legend) != len(want) {
		t.Fatalf("legend %+v, want %d rows", d.Legend, len(want))
	}
	for i, w := range want {
		l := d.Legend[i]
		if l.Owner != w.owner || l.Text != w.text || l.Rect.Fill != Colour(w.owner) {
			t.Errorf("legend row %d: %+v, want %s %q in %s", i, l, w.owner, w.text, Colour(w.owner))
		}
	}
	if len(d.Shares) != len(want) {
		t.Fatalf("%d share arcs, want %d", len(d.Shares), len(want))
	}
	for i, w := range want {
		if sh := d.Shares[i]; sh.Owner != w.owner || sh.Stroke != Colour(w.owner) {
			t.Errorf("share arc %d: %s in %s, want %s in %s", i, sh.Owner, sh.Stroke, w.owner, Colour(w.owner))
		}
	}
	if !containsText(d.Texts, "8 partitions") {
		t.Errorf("no centre label in %q", d.Texts)
	}
}

func containsText(texts []string, s string) bool {
	for _, t := range texts {
		if t == s {
			return true
		}
	}
	return false
}

func TestColourConsistentPerOwner(t *testing.T) {
	hex := regexp.MustCompile(`^#[0-9a-f]{6}$`)
	seen := map[string]string{}
	names := []string{"n1", "n2", "n3", "node-a", "", "ünïcode", "a", "b", "c"}
	for _, name := range names {
		c := Colour(name)
		if !hex.MatchString(c) {
			t.Errorf("Colour(%q) = %q, want #rrggbb", name, c)
		}
		if Colour(name) != c {
			t.Errorf("Colour(%q) changed between calls", name)
		}
		seen[name] = c
	}
	// Names a byte apart get distinct colours.
	if d := colourDistance(Colour("a"), Colour("c")); d < 60 {
		t.Errorf("a (%s) and c (%s) are only %d apart", Colour("a"), Colour("c"), d)
	}
	// Numbered names are far apart in hue.
	for i := range 5 {
		a, b := fmt.Sprintf("n%d", i+1), fmt.Sprintf("n%d", i+2)
		if d := colourDistance(Colour(a), Colour(b)); d < 100 {
			t.Errorf("%s (%s) and %s (%s) are only %d apart", a, Colour(a), b, Colour(b), d)
		}
	}
	// An owner keeps its colour when the ring changes around it.
	before := parseSVG(t, RingSVG([]string{"n1", "n2", "n3", "n1", "n2", "n3"}))
	after := parseSVG(t, RingSVG([]string{"n1", "n3", "n3", "n1", "n1", "n3"}))
	for _, d := range []svgDoc{before, after} {
		for _, a := range d.Arcs {
			if a.Stroke != seen[a.Owner] {
				t.Errorf("%s drawn in %s, want %s", a.Owner, a.Stroke, seen[a.Owner])
			}
		}
	}
}

// colourDistance is the sum of the channel differences of two #rrggbb.
func colourDistance(a, b string) int {
	d := 0
	for i := 1; i < 7; i += 2 {
		x, _ := strconv.ParseUint(a[i:i+2], 16, 8)
		y, _ := strconv.ParseUint(b[i:i+2], 16, 8)
		d += max(int(x)-int(y), int(y)-int(x))
	}
	return d
}

func TestRingSVGEscapesNames(t *testing.T) {
	evil := `<script>alert("x")</script>&'`
	s := RingSVG([]string{evil, "ok"})
	if strings.Contains(s, "<script>") {
		t.Fatalf("unescaped name in %s", s)
	}
	d := parseSVG(t, s)
	if d.Arcs[0].Owner != evil || d.Legend[0].Owner != evil {
		t.Errorf("name did not round-trip: arc %q, legend %q", d.Arcs[0].Owner, d.Legend[0].Owner)
	}
}

func TestRingSVGWithoutPartitions(t *testing.T) {
	d := parseSVG(t, RingSVG(nil))
	if len(d.Arcs) != 0 || !containsText(d.Texts, "no ring") {
		t.Errorf("empty ring drawn as %+v", d)
	}
}

// The arcs meet end to end and go clockwise around the circle.
func TestRingSVGArcsMeet(t *testing.T) {
	owners := []string{"a", "a", "b", "c", "c"}
	d := parseSVG(t, RingSVG(owners))
	var prevEnd string
	for i, a := range d.Arcs {
		fields := strings.FieldsFunc(a.D, func(r rune) bool { return r == 'M' || r == 'A' || r == ' ' })
		start := fields[0] + " " + fields[1]
		end := fields[len(fields)-2] + " " + fields[len(fields)-1]
		if i > 0 && start != prevEnd {
			t.Errorf("arc %d starts at %s, previous ended at %s", i, start, prevEnd)
		}
		prevEnd = end
	}
	first := strings.FieldsFunc(d.Arcs[0].D, func(r rune) bool { return r == 'M' || r == 'A' || r == ' ' })
	if prevEnd != first[0]+" "+first[1] {
		t.Errorf("ring not closed: ends at %s, starts at %s %s", prevEnd, first[0], first[1])
	}
}
