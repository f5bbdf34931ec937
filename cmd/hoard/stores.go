package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/hoard-dev/hoard/internal/config"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
)

// buildStores turns the configuration's sink and store blocks into node
// stores. The returned closer closes the sinks that hold files.
func buildStores(a *config.Agent, stdout io.Writer) ([]node.StoreConfig, io.Closer, error) {
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
		default:
			_ = closers.Close()
			return nil, nil, fmt.Errorf("%s: sink %q: %s sinks are not supported by this version of hoard yet (use file or stdout)", s.Range, s.Name, s.Type)
		}
	}
	var stores []node.StoreConfig
	for _, st := range a.Stores {
		kind := node.StoreKind(st.Kind)
		if st.Kind != config.KindCounter && st.Kind != config.KindBuffer {
			_ = closers.Close()
			return nil, nil, fmt.Errorf("%s: %s %q: %s stores are not supported by this version of hoard yet", st.Range, st.Kind, st.Name, st.Kind)
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
