// Package flush is a store's flush pipeline: it takes batches from the
// store's state (a Source), hands them to the store's sink one call at a
// time, retries failures with jittered exponential backoff (honouring a
// sink's Retry-After), bounds each attempt with a timeout, and writes what
// cannot be delivered to the dead-letter, from which Replay sends it again.
// Data is never dropped silently: a batch leaves memory (Source.Settle)
// only once the sink accepted it or it is on disk.
//
//	dl := flush.NewDeadLetters(filepath.Join(dataDir, "deadletter"))
//	p := flush.New(flush.Config{
//		Store: "pageviews", Sink: sink, DeadLetters: dl, Logger: logger,
//		RetryMax: 5, RetryDelay: time.Second, FlushTimeout: 30 * time.Second,
//	}, counters) // counters implements flush.Source
//	go p.Run(ctx, func() time.Duration { return flush.Interval(5*time.Second, time.Second) }, nil, nil)
//	...
//	res, err := p.Flush(stopCtx, flush.Final, nil) // errors.Is(err, flush.ErrDeadLettered): on disk
//
// One sink call per store is in flight at a time: Flush and Replay hold
// the pipeline's flush lock, which callers wait for until their ctx ends.
// A batch interrupted by its ctx is kept, in order, and tried first by the
// next flush; at the Final flush it is dead-lettered instead. The package
// does no network I/O of its own and keeps no global state.
package flush
