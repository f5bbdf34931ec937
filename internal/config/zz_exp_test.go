package config

import ("testing"; "time")

func TestExp(t *testing.T) {
	for _, src := range []string{
		"name = 1e10000000\n",
		"partitions = \"1e100000000\"\n",
		"partitions = \"-1e100000000\"\n",
		"name = \"n\"\npartitions = \"0.5e-100000000\"\n",
		`{"name": "n", "partitions": 1e100000000}`,
		`{"name": "n", "partitions": "1e100000000"}`,
		`{"name": "${1e100000000}"}`,
		"name = \"${1e100}${1e100}\"\n",
		"name = 1e308 * 1e308 * 1e308 * 1e308 * 1e308 * 1e308 * 1e308 * 1e308 * 1e308\n",
		"name = \"n\"\npartitions = \"-0\"\n",
	} {
		st := time.Now()
		_, err := Parse("e.hcl", []byte(src))
		s := ""
		if err != nil { s = err.Error(); if len(s) > 200 { s = s[:200] } }
		t.Logf("%q %v %s", src, time.Since(st), s)
	}
}
