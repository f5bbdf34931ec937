package config

import ("testing"; "time")

func TestExp(t *testing.T) {
	for _, src := range []string{
		"name = 1e1000000\n",
		"name = 1e10000000\n",
		"partitions = 1e100000000\n",
	} {
		st := time.Now()
		_, err := Parse("e.hcl", []byte(src))
		s := ""
		if err != nil { s = err.Error(); if len(s) > 200 { s = s[:200] } }
		t.Logf("%q %v %s", src, time.Since(st), s)
	}
}
