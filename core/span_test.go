package core

import (
	"reflect"
	"testing"
)

func TestAddSpan(t *testing.T) {
	var s []Span
	for _, r := range [][2]int64{{100, 200}, {0, 50}, {300, 400}, {50, 100}, {150, 320}, {390, 390}} {
		s = addSpan(s, r[0], r[1])
	}
	if want := []Span{{0, 400}}; !reflect.DeepEqual(s, want) {
		t.Fatalf("spans = %v, want %v", s, want)
	}
	if !servedWhole(s, 400) || servedWhole(s, 401) || servedBytes(s) != 400 {
		t.Fatalf("whole/bytes wrong for %v", s)
	}
	gappy := addSpan(addSpan(nil, 0, 10), 20, 30)
	if servedWhole(gappy, 30) || servedBytes(gappy) != 20 || len(gappy) != 2 {
		t.Fatalf("gappy = %v", gappy)
	}
	if !servedWhole([]Span{}, 0) || servedWhole(nil, 0) {
		t.Fatal("an empty file is whole once requested, not before")
	}
	var many []Span
	for i := range int64(maxSpans + 10) {
		many = addSpan(many, i*10, i*10+5)
	}
	if len(many) != maxSpans {
		t.Fatalf("%d spans kept, want %d", len(many), maxSpans)
	}
	for i := 1; i < len(many); i++ {
		if many[i].Off <= many[i-1].End {
			t.Fatalf("spans overlap or touch at %d: %v", i, many[i-1:i+1])
		}
	}
}
