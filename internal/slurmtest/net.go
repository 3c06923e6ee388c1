package slurmtest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxNodes bounds a cluster's nodes (addresses .2 to .65 of its /24).
const maxNodes = 64

// clusterNet is a cluster's network: a bridge on this host holding
// 10.x.y.1/24, and per node a network namespace bound to a file, joined
// to the bridge by a veth pair, its side named eth0 with 10.x.y.(2+i)/24
// and a default route through the bridge. Nodes reach this host and each
// other (a step over several nodes talks node to node) with no
// forwarding on this host.
type clusterNet struct {
	x, y   byte
	bridge string
	made   bool // the bridge exists
	nodes  []*nodeNet
}

type nodeNet struct {
	netns   string // the file the namespace is bound to
	veth    string // this host's side
	mounted bool
	made    bool
}

// The /24s this process's clusters hold, so that two started at once do
// not both take one.
var (
	netMu     sync.Mutex
	netsInUse = map[[2]byte]bool{}
)

// newClusterNet picks a 10.x.y.0/24 (x from 128 to 191) that no address,
// route or interface of this host overlaps, derived from dir (unique on
// this machine while the cluster lives) so that clusters do not race for
// the same one, and makes its bridge.
func newClusterNet(dir string, nodes int) (*clusterNet, error) {
	netMu.Lock()
	defer netMu.Unlock()
	h := fnv.New64a()
	fmt.Fprintf(h, "%s %d %d", dir, os.Getpid(), time.Now().UnixNano())
	v := h.Sum64()
	var lastErr error
	for range 1024 {
		x, y := byte(128+v%64), byte(v>>8)
		v = v*6364136223846793005 + 1442695040888963407
		if netsInUse[[2]byte{x, y}] {
			continue
		}
		n := &clusterNet{x: x, y: y, bridge: fmt.Sprintf("slt%02x%02xbr", x, y)}
		for i := range nodes {
			n.nodes = append(n.nodes, &nodeNet{veth: fmt.Sprintf("slt%02x%02x%02x", x, y, i)})
		}
		if err := n.free(); err != nil {
			lastErr = err
			continue
		}
		if err := ipBatch(nil, "link add "+n.bridge+" type bridge",
			"addr add "+n.hostAddr()+"/24 dev "+n.bridge,
			"link set "+n.bridge+" up"); err != nil {
			if strings.Contains(err.Error(), "File exists") {
				lastErr = err
				continue
			}
			ipBatch(nil, "link del "+n.bridge)
			return nil, err
		}
		n.made = true
		netsInUse[[2]byte{x, y}] = true
		return n, nil
	}
	return nil, fmt.Errorf("no free 10.x.y.0/24 in 10.128.0.0/10 (last: %v)", lastErr)
}

// hostAddr is this host's address on the cluster's bridge.
func (n *clusterNet) hostAddr() string { return fmt.Sprintf("10.%d.%d.1", n.x, n.y) }

func (n *clusterNet) nodeAddr(i int) string { return fmt.Sprintf("10.%d.%d.%d", n.x, n.y, 2+i) }

func (n *clusterNet) prefix() *net.IPNet {
	return &net.IPNet{IP: net.IPv4(10, n.x, n.y, 0).To4(), Mask: net.CIDRMask(24, 32)}
}

// free returns an error when an address or route of this host overlaps
// the cluster's /24, or one of its interface names is taken.
func (n *clusterNet) free() error {
	p := n.prefix()
	overlaps := func(q *net.IPNet) bool {
		ones, _ := q.Mask.Size()
		return q.IP.To4() != nil && ones > 0 && (p.Contains(q.IP) || q.Contains(p.IP))
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if q, ok := a.(*net.IPNet); ok && overlaps(q) {
			return fmt.Errorf("%s overlaps the address %s", p, q)
		}
	}
	routes, err := ipv4Routes()
	if err != nil {
		return err
	}
	for _, q := range routes {
		if overlaps(q) {
			return fmt.Errorf("%s overlaps the route to %s", p, q)
		}
	}
	for _, name := range n.names() {
		if _, err := net.InterfaceByName(name); err == nil {
			return fmt.Errorf("interface %s exists", name)
		}
	}
	return nil
}

func (n *clusterNet) names() []string {
	names := []string{n.bridge}
	for _, nn := range n.nodes {
		names = append(names, nn.veth)
	}
	return names
}

// ipv4Routes are the destinations of the main routing table.
func ipv4Routes() ([]*net.IPNet, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var routes []*net.IPNet
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 {
			continue
		}
		dst, err1 := hex.DecodeString(fs[1])
		mask, err2 := hex.DecodeString(fs[7])
		if err1 != nil || err2 != nil || len(dst) != 4 || len(mask) != 4 {
			continue
		}
		// The kernel writes them in host order: little-endian here.
		d, m := make(net.IP, 4), make(net.IPMask, 4)
		binary.BigEndian.PutUint32(d, binary.LittleEndian.Uint32(dst))
		binary.BigEndian.PutUint32(m, binary.LittleEndian.Uint32(mask))
		routes = append(routes, &net.IPNet{IP: d, Mask: m})
	}
	return routes, sc.Err()
}

// addNode makes node i's network namespace, bound to the file netns, and
// joins it to the bridge.
func (n *clusterNet) addNode(i int, netns string) error {
	nn := n.nodes[i]
	nn.netns = netns
	if err := os.WriteFile(netns, nil, 0o644); err != nil {
		return err
	}
	if out, err := exec.Command("unshare", "--net="+netns, "true").CombinedOutput(); err != nil {
		return fmt.Errorf("unshare --net=%s: %v: %s", netns, err, bytes.TrimSpace(out))
	}
	nn.mounted = true
	peer := nn.veth + "p"
	if err := ipBatch(nil, "link add "+nn.veth+" type veth peer name "+peer+" netns "+netns,
		"link set "+nn.veth+" master "+n.bridge,
		"link set "+nn.veth+" up"); err != nil {
		return err
	}
	nn.made = true
	return ipBatch([]string{"nsenter", "--net=" + netns},
		"link set lo up",
		"link set "+peer+" name eth0",
		"addr add "+n.nodeAddr(i)+"/24 dev eth0",
		"link set eth0 up",
		"route add default via "+n.hostAddr())
}

// ipBatch runs ip's commands in one ip -batch, started through prefix
// (nsenter into a namespace) when it is not empty.
func ipBatch(prefix []string, cmds ...string) error {
	args := append(append([]string{}, prefix...), "ip", "-batch", "-")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s <<%q: %v: %s", strings.Join(args, " "), cmds, err, bytes.TrimSpace(out))
	}
	return nil
}

// remove deletes the veths and the bridge and unbinds and removes the
// namespaces' files. Run once the nodes' processes are gone, it leaves no
// namespace (the kernel frees one when its last reference goes).
func (n *clusterNet) remove() error {
	var errs []error
	for _, nn := range n.nodes {
		if nn.made {
			if _, err := net.InterfaceByName(nn.veth); err == nil {
				if err := ipBatch(nil, "link del "+nn.veth); err != nil {
					errs = append(errs, err)
				}
			}
			nn.made = false
		}
		if nn.mounted {
			if err := syscall.Unmount(nn.netns, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", nn.netns, err))
			} else {
				nn.mounted = false
			}
		}
		if nn.netns != "" && !nn.mounted {
			if err := os.Remove(nn.netns); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if n.made {
		if err := ipBatch(nil, "link del "+n.bridge); err != nil {
			errs = append(errs, err)
		} else {
			n.made = false
		}
	}
	if len(errs) == 0 {
		netMu.Lock()
		delete(netsInUse, [2]byte{n.x, n.y})
		netMu.Unlock()
	}
	return errors.Join(errs...)
}

// freePort returns a TCP port that no socket of this host holds now,
// below the range the kernel gives outgoing connections (so that none
// takes it before slurmctld listens on it).
func freePort() (int, error) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 20000+1000 {
				low = n
			}
		}
	}
	var lastErr error
	for range 100 {
		port := 20000 + mathrand.IntN(low-20000)
		l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		if err != nil {
			lastErr = err
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port from 20000 to %d: %v", low-1, lastErr)
}
