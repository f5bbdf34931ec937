package main

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hoard-dev/hoard/node"
)

// metrics exposes a node's Stats() as Prometheus metrics, read at each
// scrape: fixed names, node and store as labels.
type metrics struct {
	n atomic.Pointer[node.Node] // set once the node has started

	unflushed, asyncPending, ringMembers, wal *prometheus.Desc
	asyncLost, forwarded, rerouted            *prometheus.Desc
	replicaOps, failovers                     *prometheus.Desc
	keys, values, bytes                       *prometheus.Desc
	flushes, failures, deadLettered, lastSeen *prometheus.Desc
}

func newMetrics() *metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("hoard_"+name, help, append([]string{"node"}, labels...), nil)
	}
	return &metrics{
		unflushed:    d("unflushed_ops", "Ops acknowledged on the node and not yet delivered to a sink or dead-lettered: what a crash would lose now, but for the ops of stores with ack = \"wal\", which the write-ahead log holds."),
		wal:          d("wal_bytes", "Size of the node's write-ahead log: the ops of stores with ack = \"wal\" that their sinks do not have yet."),
		replicaOps:   d("replica_ops", "Ops the node holds for the members whose partitions it backs up (ack = \"replicated\"), not yet flushed by them."),
		failovers:    d("failover_flushes_total", "Failover flushes: the ops held for a member declared failed, delivered under its origin."),
		asyncPending: d("async_pending_sums", "Async increment sums (one per key) waiting to be sent to their owners."),
		ringMembers:  d("ring_members", "Members in the node's current ring."),
		asyncLost:    d("async_lost_total", "Async increments given up on."),
		forwarded:    d("forwarded_ops_total", "Ops the node forwarded to their owner."),
		rerouted:     d("rerouted_ops_total", "Forwarded ops refused as not the owner and routed again."),
		keys:         d("store_keys", "Keys held, not yet flushed (caches: entries).", "store", "kind"),
		values:       d("store_values", "Values held by a buffer, or increments held by a counter.", "store", "kind"),
		bytes:        d("store_bytes", "Bytes held by a buffer, batches being flushed included.", "store", "kind"),
		flushes:      d("store_flushes_total", "Batches the sink accepted.", "store", "kind"),
		failures:     d("store_flush_failures_total", "Failed flush attempts.", "store", "kind"),
		deadLettered: d("store_dead_lettered_total", "Batches sent to the dead-letter.", "store", "kind"),
		lastSeen:     d("store_last_flush_timestamp_seconds", "Unix time of the last accepted batch.", "store", "kind"),
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.unflushed, m.wal, m.asyncPending, m.ringMembers, m.asyncLost, m.forwarded, m.rerouted,
		m.replicaOps, m.failovers, m.keys, m.values, m.bytes, m.flushes, m.failures, m.deadLettered, m.lastSeen} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	n := m.n.Load()
	if n == nil {
		return
	}
	name := n.Name()
	st := n.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{name}, labels...)...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append([]string{name}, labels...)...)
	}
	gauge(m.unflushed, float64(st.Unflushed))
	gauge(m.wal, float64(st.WALBytes))
	gauge(m.asyncPending, float64(st.AsyncPending))
	gauge(m.replicaOps, float64(st.ReplicaOps))
	counter(m.failovers, float64(st.Failovers))
	if snap := n.Ring(); snap != nil {
		gauge(m.ringMembers, float64(len(snap.Members())))
	}
	counter(m.asyncLost, float64(st.AsyncLost))
	counter(m.forwarded, float64(st.Forwarded))
	counter(m.rerouted, float64(st.Rerouted))
	for _, s := range st.Stores {
		kind := string(s.Kind)
		gauge(m.keys, float64(s.Keys), s.Name, kind)
		gauge(m.values, float64(s.Values), s.Name, kind)
		gauge(m.bytes, float64(s.Bytes), s.Name, kind)
		counter(m.flushes, float64(s.Flushes), s.Name, kind)
		counter(m.failures, float64(s.Failures), s.Name, kind)
		counter(m.deadLettered, float64(s.DeadLettered), s.Name, kind)
		if !s.LastFlush.IsZero() {
			gauge(m.lastSeen, float64(s.LastFlush.UnixNano())/1e9, s.Name, kind)
		}
	}
}

// handler returns the /metrics handler: the node's metrics plus the Go
// runtime's and the process's, in a registry of its own (no globals).
func (m *metrics) handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
