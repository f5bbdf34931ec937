package sinks

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestPlanPositions(t *testing.T) {
	r := func(p int, first, last uint64) Range { return Range{Partition: p, First: first, Last: last} }
	tests := []struct {
		name           string
		batch, applied []Range
		skip           []int
		clear          []int32
		rows           []Range
		err            string // in the error, if refused
	}{
		{name: "first of its origin", batch: []Range{r(0, 1, 5), r(1, 1, 2)},
			rows: []Range{r(0, 1, 5), r(1, 1, 2)}},
		{name: "extends an applied range", batch: []Range{r(0, 6, 9)}, applied: []Range{r(0, 1, 5)},
			clear: []int32{0}, rows: []Range{r(0, 1, 9)}},
		{name: "fills a gap", batch: []Range{r(0, 6, 9)}, applied: []Range{r(0, 1, 5), r(0, 10, 12), r(0, 20, 21)},
			clear: []int32{0}, rows: []Range{r(0, 1, 12), r(0, 20, 21)}},
		{name: "before a later one", batch: []Range{r(0, 1, 3)}, applied: []Range{r(0, 5, 9)},
			clear: []int32{0}, rows: []Range{r(0, 1, 3), r(0, 5, 9)}},
		{name: "touching ranges of the batch", batch: []Range{r(0, 3, 4), r(0, 1, 2)},
			rows: []Range{r(0, 1, 4)}},
		{name: "applied before", batch: []Range{r(0, 2, 3), r(1, 5, 5)}, applied: []Range{r(0, 1, 5), r(1, 5, 5)},
			skip: []int{0, 1}},
		{name: "one partition applied before", batch: []Range{r(0, 2, 3), r(1, 6, 7)}, applied: []Range{r(0, 1, 5), r(1, 1, 5)},
			skip: []int{0}, clear: []int32{1}, rows: []Range{r(1, 1, 7)}},
		{name: "contained in applied rows that touch", batch: []Range{r(0, 4, 7)}, applied: []Range{r(0, 1, 5), r(0, 6, 9)},
			skip: []int{0}},
		{name: "overlapping", batch: []Range{r(0, 4, 7)}, applied: []Range{r(0, 1, 5)},
			err: "range 4-7 of partition 0 overlaps the applied ops 1-5"},
		{name: "containing", batch: []Range{r(0, 1, 7)}, applied: []Range{r(0, 2, 3)},
			err: "range 1-7 of partition 0 overlaps the applied ops 2-3"},
		{name: "applied and new", batch: []Range{r(0, 1, 5), r(0, 6, 7)}, applied: []Range{r(0, 1, 5)},
			err: "partition 0: range 1-5 was applied before but range 6-7 was not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := planPositions(rangesByPartition(tt.batch), rangesByPartition(tt.applied))
			if tt.err != "" {
				if !errors.As(err, new(batchError)) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want a batchError containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			skip := map[int]bool{}
			for _, p := range tt.skip {
				skip[p] = true
			}
			if !reflect.DeepEqual(plan.skip, skip) || !reflect.DeepEqual(plan.clear, tt.clear) || !reflect.DeepEqual(plan.rows, tt.rows) {
				t.Errorf("plan %+v, want skip %v, clear %v, rows %v", plan, skip, tt.clear, tt.rows)
			}
		})
	}
}
