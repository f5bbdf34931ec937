package loaders_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/hoard-dev/hoard/loaders"
)

func ExampleLoaderFunc() {
	users := map[string]string{"u1": "Ada", "u2": "Grace"}
	l := loaders.LoaderFunc(func(ctx context.Context, key string) (loaders.Result, error) {
		name, ok := users[key]
		if !ok {
			return loaders.Result{}, fmt.Errorf("user %s: %w", key, loaders.ErrNotFound)
		}
		return loaders.Result{Value: []byte(name)}, nil
	})

	for _, key := range []string{"u1", "u3"} {
		res, err := l.Load(context.Background(), key)
		switch {
		case errors.Is(err, loaders.ErrNotFound):
			fmt.Printf("%s: not found\n", key)
		case err != nil:
			fmt.Printf("%s: %v\n", key, err)
		default:
			fmt.Printf("%s: %s\n", key, res.Value)
		}
	}
	// Output:
	// u1: Ada
	// u3: not found
}

func ExampleInitFunc() {
	// A LoaderFunc and an InitFunc embedded in one struct make a loader
	// that also seeds the cache at start (DataWorker's init/1).
	var l loaders.Loader = struct {
		loaders.LoaderFunc
		loaders.InitFunc
	}{
		func(ctx context.Context, key string) (loaders.Result, error) {
			return loaders.Result{Value: []byte("loaded " + key)}, nil
		},
		func(ctx context.Context) (map[string][]byte, error) {
			return map[string][]byte{"home": []byte("seeded")}, nil
		},
	}

	if init, ok := l.(loaders.Initializer); ok {
		seed, _ := init.Init(context.Background())
		fmt.Printf("home: %s\n", seed["home"])
	}
	res, _ := l.Load(context.Background(), "about")
	fmt.Printf("about: %s\n", res.Value)
	// Output:
	// home: seeded
	// about: loaded about
}

func ExampleNewHTTP() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/users/ada lovelace" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"name":"Ada"}`)
	}))
	defer srv.Close()

	h, err := loaders.NewHTTP(loaders.HTTPConfig{URL: srv.URL + "/users/{key}"})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := h.Load(context.Background(), "ada lovelace")
	fmt.Println(string(res.Value), err)
	_, err = h.Load(context.Background(), "nobody")
	fmt.Println(errors.Is(err, loaders.ErrNotFound))
	// Output:
	// {"name":"Ada"} <nil>
	// true
}

func ExampleHTTP_Loader() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/users": // every entry, for the seeding
			fmt.Fprint(w, `{"ada": "Ada Lovelace", "grace": "Grace Hopper"}`)
		default:
			fmt.Fprint(w, "loaded "+r.URL.Path)
		}
	}))
	defer srv.Close()

	h, err := loaders.NewHTTP(loaders.HTTPConfig{URL: srv.URL + "/users/{key}", InitURL: srv.URL + "/users"})
	if err != nil {
		fmt.Println(err)
		return
	}
	l := h.Loader() // what a cache store is given
	if init, ok := l.(loaders.Initializer); ok {
		seed, err := init.Init(context.Background())
		fmt.Println(string(seed["ada"]), string(seed["grace"]), err)
	}
	res, _ := l.Load(context.Background(), "alan")
	fmt.Println(string(res.Value))
	// Output:
	// Ada Lovelace Grace Hopper <nil>
	// loaded /users/alan
}
