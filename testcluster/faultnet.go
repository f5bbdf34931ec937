package testcluster

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// faults is the cluster's fault injection: which gossip addresses cannot
// reach which. It is shared by every node's transport.
type faults struct {
	// mu guards cut.
	mu  sync.Mutex
	cut map[[2]string]bool // (from, to) gossip addresses that cannot talk
}

func (f *faults) blocked(from, to string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cut[[2]string{from, to}]
}

// set replaces the cut pairs.
func (f *faults) set(cut map[[2]string]bool) {
	f.mu.Lock()
	f.cut = cut
	f.mu.Unlock()
}

// faultTransport is memberlist's UDP+TCP transport with a switch: traffic
// to a peer the faults say is cut off is dropped (packets) or refused
// (streams). Cutting both directions of a pair partitions the two nodes:
// since each side only sends, nothing from the other arrives.
type faultTransport struct {
	*memberlist.NetTransport
	faults *faults

	// mu guards self.
	mu   sync.Mutex
	self string
}

var _ memberlist.Transport = (*faultTransport)(nil)

// newFaultTransport binds a NetTransport on host with a free port.
func newFaultTransport(host string, f *faults, cfg *memberlist.Config) (*faultTransport, error) {
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{host},
		BindPort:  0,
		Logger:    cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("testcluster: gossip transport: %w", err)
	}
	return &faultTransport{NetTransport: nt, faults: f}, nil
}

// FinalAdvertiseAddr records the node's own address for the fault checks.
func (t *faultTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	addr, p, err := t.NetTransport.FinalAdvertiseAddr(ip, port)
	if err == nil {
		t.mu.Lock()
		t.self = net.JoinHostPort(addr.String(), strconv.Itoa(p))
		t.mu.Unlock()
	}
	return addr, p, err
}

func (t *faultTransport) cutOff(to string) bool {
	t.mu.Lock()
	self := t.self
	t.mu.Unlock()
	return t.faults.blocked(self, to)
}

// WriteTo drops packets to a peer that is cut off, as a lossy network would.
func (t *faultTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.cutOff(addr) {
		return time.Now(), nil
	}
	return t.NetTransport.WriteTo(b, addr)
}

// DialTimeout refuses streams to a peer that is cut off.
func (t *faultTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.cutOff(addr) {
		return nil, fmt.Errorf("testcluster: %s is partitioned from %s", addr, t.self)
	}
	return t.NetTransport.DialTimeout(addr, timeout)
}

// WriteToAddress is WriteTo for memberlist's node-aware path.
func (t *faultTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.cutOff(a.Addr) {
		return time.Now(), nil
	}
	return t.NetTransport.WriteToAddress(b, a)
}

// DialAddressTimeout is DialTimeout for memberlist's node-aware path.
func (t *faultTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.cutOff(a.Addr) {
		return nil, fmt.Errorf("testcluster: %s is partitioned from %s", a.Addr, t.self)
	}
	return t.NetTransport.DialAddressTimeout(a, timeout)
}

var _ memberlist.NodeAwareTransport = (*faultTransport)(nil)
