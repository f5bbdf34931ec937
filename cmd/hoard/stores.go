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
				DSN:           s.DSN,
				CountersTable: s.CountersTable,
				ValuesTable:   s.ValuesTable,
				CreateTables:  s.CreateTables,
				Timeout:       s.Timeout,
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
	var stores []node.StoreConfig
	for _, st := range a.Stores {
		kind := node.StoreKind(st.Kind)
		if st.Kind == config.KindCache {
			sc, closer, err := buildCache(ctx, st)
			if err != nil {
				_ = closers.Close()
				return nil, nil, err
			}
			if closer != nil {
				closers = append(closers, closer)
			}
			stores = append(stores, sc)
			continue
		}
		sc := node.StoreConfig{
			Name:         st.Name,
			Kind:         kind,
			MaxSize:      st.MaxSize,
			MaxBytes:     st.MaxBytes,
			Sink:         built[st.Sink],
			Interval:     st.Interval,
			Jitter:       st.Jitter,
			RetryMax:     max(st.RetryMax, 1), // retry_max = 0: one attempt, no retry
			RetryDelay:   st.RetryDelay,
			FlushTimeout: st.FlushTimeout,
		}
		if st.Jitter == 0 {
			sc.Jitter = -1 // explicitly none
		}
		if st.FlushTimeout == 0 {
			sc.FlushTimeout = -1 // no limit
		}
		if st.MaxBytes == 0 {
			sc.MaxBytes = -1 // unbounded
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

// buildCache turns a cache block and its loader into a node store.
func buildCache(ctx context.Context, st config.Store) (node.StoreConfig, io.Closer, error) {
	sc := node.StoreConfig{
		Name:            st.Name,
		Kind:            node.KindCache,
		RefreshInterval: st.RefreshInterval,
		TTL:             st.TTL,
		MaxEntries:      st.MaxEntries,
		Dump:            st.Dump,
		SkipSave:        st.SkipSave,
	}
	if st.Loader == nil {
		return sc, nil, fmt.Errorf("%s: cache %q: a cache needs a loader block (loader \"http\" { url = ... } or loader \"postgres\" { dsn = ..., query = ... })", st.Range, st.Name)
	}
	l := st.Loader
	if l.Timeout > 0 {
		sc.LoadTimeout = l.Timeout
	}
	switch l.Type {
	case config.LoaderHTTP:
		h, err := loaders.NewHTTP(loaders.HTTPConfig{URL: l.URL, Timeout: l.Timeout})
		if err != nil {
			return sc, nil, fmt.Errorf("%s: cache %q: %w", l.Range, st.Name, err)
		}
		sc.Loader = h
		return sc, nil, nil
	case config.LoaderPostgres:
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		p, err := loaders.NewPostgres(pctx, loaders.PostgresConfig{DSN: l.DSN, Query: l.Query, Timeout: l.Timeout})
		if err != nil {
			return sc, nil, fmt.Errorf("%s: cache %q: %w", l.Range, st.Name, err)
		}
		sc.Loader = p
		return sc, closerFunc(p.Close), nil
	}
	return sc, nil, fmt.Errorf("%s: cache %q: unknown loader %q", l.Range, st.Name, l.Type)
}

type closerFunc func()

func (f closerFunc) Close() error {
	f()
	return nil
}
