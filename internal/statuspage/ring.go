package statuspage

import (
	"fmt"
	"hash/fnv"
	"html"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Geometry of the drawing, in SVG user units.
const (
	ringCX, ringCY = 170.0, 170.0 // the circle's centre
	ringR          = 130.0        // radius of the middle of the band
	ringBand       = 44.0         // width of the band
	shareR         = 86.0         // radius of the inner ring of shares
	shareBand      = 14.0         // its width
	legendX        = 350.0        // left edge of the legend
	legendY        = 40.0         // baseline of the legend's first row
	legendRow      = 24.0         // legend row height
	svgW           = 620.0        // width of the whole drawing
	svgMinH        = 340.0        // height, unless the legend needs more
)

// Colour returns the colour owner is drawn in, as #rrggbb, a function of
// the name alone, so a node keeps its colour on every node's page and
// across ring changes. The hue comes from a hash of the name; a name ending
// in a number (n1, node-2) takes its prefix's hue turned by that number
// times the golden angle, so numbered nodes get well-separated colours.
func Colour(owner string) string {
	prefix := strings.TrimRightFunc(owner, func(r rune) bool { return r >= '0' && r <= '9' })
	h := fnv.New32a()
	h.Write([]byte(prefix))
	hue := float64(mix(h.Sum32()) % 360)
	if num, err := strconv.ParseUint(owner[len(prefix):], 10, 32); err == nil {
		hue = math.Mod(hue+float64(num)*137.50776, 360)
	}
	r, g, b := hslToRGB(hue, 0.62, 0.46)
	return fmt.Sprintf("#%02x%02x%02x", r, g, b)
}

// mix is murmur3's finaliser: it spreads names that differ in one byte,
// which FNV leaves close modulo 360, around the circle.
func mix(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// hslToRGB converts a hue in degrees, saturation and lightness in [0,1].
func hslToRGB(h, s, l float64) (r, g, b uint8) {
	c := (1 - math.Abs(2*l-1)) * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	m := l - c/2
	var rf, gf, bf float64
	switch {
	case h < 60:
		rf, gf, bf = c, x, 0
	case h < 120:
		rf, gf, bf = x, c, 0
	case h < 180:
		rf, gf, bf = 0, c, x
	case h < 240:
		rf, gf, bf = 0, x, c
	case h < 300:
		rf, gf, bf = x, 0, c
	default:
		rf, gf, bf = c, 0, x
	}
	to := func(v float64) uint8 { return uint8(math.Round((v + m) * 255)) }
	return to(rf), to(gf), to(bf)
}

// span is a run of consecutive partitions with one owner.
type span struct {
	owner       string
	first, last int // partitions, inclusive
}

// spans cuts owners (partition -> owner name) into maximal runs.
func spans(owners []string) []span {
	var out []span
	for p, o := range owners {
		if len(out) > 0 && out[len(out)-1].owner == o {
			out[len(out)-1].last = p
			continue
		}
		out = append(out, span{owner: o, first: p, last: p})
	}
	return out
}

// point returns the point of the circle of radius r at the start of
// partition p of n, partition 0 at the top, going clockwise.
func point(r float64, p, n int) (x, y float64) {
	a := 2*math.Pi*float64(p)/float64(n) - math.Pi/2
	return ringCX + r*math.Cos(a), ringCY + r*math.Sin(a)
}

// arc writes the path data of the arc of radius r over partitions
// [first, last] of n.
func arc(b *strings.Builder, r float64, first, last, n int) {
	if first == 0 && last == n-1 {
		// The whole circle, as two half arcs: an arc cannot end where it
		// starts.
		x0, y0 := point(r, 0, 2)
		x1, y1 := point(r, 1, 2)
		fmt.Fprintf(b, "M%.2f %.2fA%g %g 0 1 1 %.2f %.2fA%g %g 0 1 1 %.2f %.2f", x0, y0, r, r, x1, y1, r, r, x0, y0)
		return
	}
	x0, y0 := point(r, first, n)
	x1, y1 := point(r, last+1, n)
	large := 0
	if 2*(last+1-first) > n {
		large = 1
	}
	fmt.Fprintf(b, "M%.2f %.2fA%g %g 0 %d 1 %.2f %.2f", x0, y0, r, r, large, x1, y1)
}

// RingSVG draws a ring of len(owners) partitions, owners[p] naming the
// owner of partition p: one arc per run of consecutive partitions with the
// same owner, in that owner's [Colour], each titled with its owner and
// partitions; inside it, one arc per owner as long as its share; and a legend giving each owner's count and share. Names are
// escaped. With no partitions it draws a placeholder saying there is no
// ring. The result is a standalone <svg> element, fit to inline in HTML.
func RingSVG(owners []string) string {
	var b strings.Builder
	n := len(owners)
	count := map[string]int{}
	for _, o := range owners {
		count[o]++
	}
	names := make([]string, 0, len(count))
	for o := range count {
		names = append(names, o)
	}
	slices.Sort(names)
	h := max(svgMinH, legendY+legendRow*float64(len(names)+1))
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="ring" viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="ring of %d partitions">`, svgW, h, svgW, h, n)
	if n == 0 {
		fmt.Fprintf(&b, `<circle cx="%g" cy="%g" r="%g" fill="none" stroke="#ccc" stroke-width="%g" stroke-dasharray="6 6"/>`, ringCX, ringCY, ringR, ringBand)
		fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle" class="centre">no ring</text></svg>`, ringCX, ringCY)
		return b.String()
	}
	for _, s := range spans(owners) {
		o := html.EscapeString(s.owner)
		fmt.Fprintf(&b, `<path class="arc" data-owner="%s" data-first="%d" data-last="%d" stroke="%s" stroke-width="%g" fill="none" d="`,
			o, s.first, s.last, Colour(s.owner), ringBand)
		arc(&b, ringR, s.first, s.last, n)
		parts := fmt.Sprintf("partition %d", s.first)
		if s.last > s.first {
			parts = fmt.Sprintf("partitions %d–%d", s.first, s.last)
		}
		fmt.Fprintf(&b, `"><title>%s: %s</title></path>`, o, parts)
	}
	// Inside, each owner's share as one arc, in the legend's order.
	at := 0
	for _, o := range names {
		fmt.Fprintf(&b, `<path class="share" data-owner="%s" stroke="%s" stroke-width="%g" fill="none" d="`, html.EscapeString(o), Colour(o), shareBand)
		arc(&b, shareR, at, at+count[o]-1, n)
		b.WriteString(`"/>`)
		at += count[o]
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle" class="centre">%d partitions</text>`, ringCX, ringCY+5, n)
	fmt.Fprintf(&b, `<g class="legend"><text x="%g" y="%g" class="legend-head">owner · partitions · share</text>`, legendX, legendY)
	for i, o := range names {
		y := legendY + legendRow*float64(i+1)
		e := html.EscapeString(o)
		fmt.Fprintf(&b, `<g class="legend-row" data-owner="%s"><rect x="%g" y="%g" width="14" height="14" rx="3" fill="%s"/>`, e, legendX, y-12, Colour(o))
		fmt.Fprintf(&b, `<text x="%g" y="%g">%s · %d · %.1f%%</text></g>`, legendX+22, y, e, count[o], 100*float64(count[o])/float64(n))
	}
	b.WriteString(`</g></svg>`)
	return b.String()
}
