package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/config"
	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
)

// buildStores turns the configuration's sink and store blocks into node
// stores. The returned closer closes the sinks that hold files.
func buildStores(ctx context.Context, a *config.Agent, stdout io.Writer, logger hclog.Logger) ([]node.StoreConfig, io.Closer, error) {
	built := map[string]sinks.Sink{}
	var closers multiCloser
	for _, s := range a.Sinks {
		switch s.Type {
		case config.SinkFile:
			f, err := sinks.NewFile(s.Path)
			if err != nil {
				_ = closers.Close()
				return nil, nil, fmt.Errorf("%s: sink %q: %w", s.Range, s.Name, err)
			}
			closers = append(closers, f)
			built[s.Name] = f
		case config.SinkStdout:
			built[s.Name] = sinks.NewWriter(stdout)
		case config.SinkHTTP:
			timeout := s.Timeout
			if timeout == 0 {
				timeout = -1 // only the store's flush_timeout bounds a request
			}
			h, err := sinks.NewHTTP(sinks.HTTPConfig{URL: s.URL, Headers: s.Headers, Timeout: timeout, Logger: logger.Named("sink").With("sink", s.Name)})
			if err != nil {
				_ = closers.Close()
				return nil, nil, fmt.Errorf("%s: sink %q: %w", s.Range, s.Name, err)
			}
			closers = append(closers, h)
			built[s.Name] = h
		case config.SinkPostgres:
			pctx, cancel := context.WithTimeout(ctx, time.Minute)
			pg, err := sinks.NewPostgres(pctx, sinks.PostgresConfig{
				DSN:               s.DSN,
				CountersTable:     s.CountersTable,
				ValuesTable:       s.ValuesTable,
				CountersStatement: s.CountersStatement,
				ValuesStatement:   s.ValuesStatement,
				CreateTables:      s.CreateTables,
				Timeout:           s.Timeout,
			})
			cancel()
			if err != nil {
				_ = closers.Close()
				return nil, nil, fmt.Errorf("%s: sink %q: %w", s.Range, s.Name, err)
			}
			closers = append(closers, closerFunc(pg.Close))
			built[s.Name] = pg
		default:
			_ = closers.Close()
			return nil, nil, fmt.Errorf("%s: sink %q: %s sinks are not supported by this version of hoard yet (use file, stdout, http or postgres)", s.Range, s.Name, s.Type)
		}
	}
	// A store's settings are the node's own (config.Store.Config); only
	// its sink and loader are built here.
	var stores []node.StoreConfig
	for _, st := range a.Stores {
		sc := st.Config
		if sc.Kind == node.KindCache {
			loader, closer, err := buildLoader(ctx, st)
			if err != nil {
				_ = closers.Close()
				return nil, nil, err
			}
			if closer != nil {
				closers = append(closers, closer)
			}
			sc.Loader = loader
		} else {
			sc.Sink = built[st.Sink]
		}
		stores = append(stores, sc)
	}
	return stores, closers, nil
}

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var errs []error
	for _, c := range m {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// buildLoader builds a cache's loader from its loader block. The loader's
// own timeout is the store's load timeout, so one value bounds a load (and
// the init). With an init_url or init_query the loader is also a
// loaders.Initializer: the node seeds the store with it at start.
func buildLoader(ctx context.Context, st config.Store) (loaders.Loader, io.Closer, error) {
	name := st.Config.Name
	l := st.Loader
	if l == nil {
		return nil, nil, fmt.Errorf("%s: cache %q: a cache needs a loader \"http\" or loader \"postgres\" block", st.Range, name)
	}
	timeout := st.Config.LoadTimeout
	if timeout == 0 {
		timeout = node.DefaultStoreConfig(node.KindCache).LoadTimeout
	}
	switch l.Type {
	case config.LoaderHTTP:
		h, err := loaders.NewHTTP(loaders.HTTPConfig{URL: l.URL, InitURL: l.InitURL, Timeout: timeout})
		if err != nil {
			return nil, nil, fmt.Errorf("%s: cache %q: %w", l.Range, name, err)
		}
		return h.Loader(), nil, nil
	case config.LoaderPostgres:
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		p, err := loaders.NewPostgres(pctx, loaders.PostgresConfig{DSN: l.DSN, Query: l.Query, InitQuery: l.InitQuery, Timeout: timeout})
		if err != nil {
			return nil, nil, fmt.Errorf("%s: cache %q: %w", l.Range, name, err)
		}
		return p.Loader(), closerFunc(p.Close), nil
	}
	return nil, nil, fmt.Errorf("%s: cache %q: unknown loader %q", l.Range, name, l.Type)
}

type closerFunc func()

func (f closerFunc) Close() error {
	f()
	return nil
}
