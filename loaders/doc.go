// Package loaders defines how a cache store reads what it does not hold:
// the Loader interface, the Result a load returns, and the loaders
// themselves: HTTP (GET a URL made from the key) and Postgres (run a query
// with the key as $1). It mirrors package sinks on the read side.
//
// A cache store answers Get(key) from the key's owner node, which on a miss
// calls the store's loader once and caches the result (DataWorker's load/1).
// A loader that also implements Initializer seeds the cache when the node
// starts (DataWorker's init/1). An embedding program can use any function:
//
//	users := loaders.LoaderFunc(func(ctx context.Context, key string) (loaders.Result, error) {
//		u, err := db.User(ctx, key)
//		if errors.Is(err, sql.ErrNoRows) {
//			return loaders.Result{}, loaders.ErrNotFound
//		}
//		if err != nil {
//			return loaders.Result{}, err
//		}
//		// Cache the user's e-mail entry too, at its own owner.
//		return loaders.Result{Value: u.JSON(), Extra: map[string][]byte{"email:" + u.Email: u.JSON()}}, nil
//	})
//
// or the loaders of the configuration file:
//
//	h, err := loaders.NewHTTP(loaders.HTTPConfig{URL: "http://users.internal/users/{key}"})
//	p, err := loaders.NewPostgres(ctx, loaders.PostgresConfig{
//		DSN:   "postgres://hoard@db/app?sslmode=verify-full",
//		Query: "SELECT profile FROM users WHERE id = $1",
//	})
//	defer p.Close()
//
// With an InitURL (a JSON object of strings) or an InitQuery (key, value
// rows) they seed the cache at start too: give the store their Loader(),
// which is then a Loader and an Initializer.
package loaders
