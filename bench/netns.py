"""netns.py -- a small network of "hosts" inside this machine for
bench/drill.py --netns: one network namespace per node (an instance, Redis,
the load balancer, the clients), each with one interface eth0 joined to a
bridge in a namespace of its own (the "switch") by a veth pair. Nothing in it
reaches outside: the namespaces have no route but their own /24, and every
address used is one of theirs (../shared/RECIPES.md, "Several hosts on one
machine").

    net = Netns(["lb", "redis", "ws1", "ws2", "ws3", "cli"])
    net.setup()                    # raises after tearing down what it made
    net.addr["ws1"]                # "10.77.0.12"
    net.popen("ws1", ["./wspulse", "--host", net.addr["ws1"], ...])
    net.link_down("ws1"); net.link_up("ws1")           # a partition
    net.slow("ws1"); net.clear("ws1")                  # a trickle (tbf both ways)
    net.enter("cli")               # this thread (and what it starts) lives there
    net.teardown()                 # idempotent; also removes the veth pairs

Names carry this process's PID ("wsd<PID>-ws1"), so two drills never share a
namespace, and sweep_stale() removes what a drill killed by SIGKILL left
behind (only names of that form whose PID no longer runs).

The kernel here has no netem and no nftables: a cut is `ip link set eth0
down` on the node's side (the process lives on, its packets go nowhere), a
slow link is a token bucket (tbf) on both ends of the node's veth, so both
directions trickle.
"""
import ctypes
import os
import re
import subprocess

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"
TC = "/usr/sbin/tc" if os.path.exists("/usr/sbin/tc") else "tc"
CLONE_NEWNET = 0x40000000
STALE = re.compile(r"^wsd(\d+)-")


def _run(*argv, check=True):
    r = subprocess.run(list(argv), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def list_namespaces():
    r = _run(IP, "netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def sweep_stale():
    """Delete namespaces of dead drills (wsd<PID>-*, PID gone); returns them."""
    gone = []
    for name in list_namespaces():
        m = STALE.match(name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            _run(IP, "netns", "del", name, check=False)
            gone.append(name)
    return gone


class Netns:
    def __init__(self, nodes, subnet="10.77.0", first_host=10):
        self.nodes = list(nodes)
        pid = os.getpid()
        self.prefix = f"wsd{pid}-"
        self.tag = f"wd{pid}"            # veth names before the move: <= 15 chars
        self.switch = self.prefix + "sw"
        self.addr = {n: f"{subnet}.{first_host + i}" for i, n in enumerate(self.nodes)}
        self.made = []                  # namespaces created, for teardown
        self.slowed = set()

    # --- names ---------------------------------------------------------------

    def ns(self, node):
        return self.prefix + node

    def port(self, node):
        """The switch side of node's veth, in the switch namespace."""
        return f"p{self.nodes.index(node)}"

    # --- building and removing ---------------------------------------------

    def setup(self):
        """The switch, one namespace per node, the veth pairs, addresses, lo
        up. On any failure, removes whatever it made and raises."""
        try:
            self._add_ns(self.switch)
            sw = self.switch
            _run(IP, "-n", sw, "link", "add", "br0", "type", "bridge")
            _run(IP, "-n", sw, "link", "set", "br0", "up")
            _run(IP, "-n", sw, "link", "set", "lo", "up")
            for i, node in enumerate(self.nodes):
                ns = self.ns(node)
                self._add_ns(ns)
                a, b = f"{self.tag}n{i}", f"{self.tag}s{i}"
                _run(IP, "link", "add", a, "type", "veth", "peer", "name", b)
                _run(IP, "link", "set", a, "netns", ns)
                _run(IP, "link", "set", b, "netns", sw)
                _run(IP, "-n", ns, "link", "set", a, "name", "eth0")
                _run(IP, "-n", sw, "link", "set", b, "name", self.port(node))
                _run(IP, "-n", sw, "link", "set", self.port(node), "master", "br0")
                _run(IP, "-n", sw, "link", "set", self.port(node), "up")
                _run(IP, "-n", ns, "addr", "add", f"{self.addr[node]}/24", "dev", "eth0")
                _run(IP, "-n", ns, "link", "set", "eth0", "up")
                _run(IP, "-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.teardown()
            raise
        return self

    def _add_ns(self, name):
        _run(IP, "netns", "add", name)
        self.made.append(name)

    def teardown(self):
        """Delete every namespace made (their veths go with them). Safe to
        call twice, and after a partial setup."""
        errors = []
        while self.made:
            name = self.made.pop()
            r = _run(IP, "netns", "del", name, check=False)
            if r.returncode != 0 and name in list_namespaces():
                errors.append(f"{name}: {r.stderr.strip()}")
        if errors:
            raise RuntimeError("netns teardown: " + "; ".join(errors))

    def __enter__(self):
        return self.setup()

    def __exit__(self, *exc):
        self.teardown()

    # --- processes -----------------------------------------------------------

    def cmd(self, node, argv):
        """argv run inside node's namespace (ip netns exec execs it: the
        PID is the program's own, fit for signals)."""
        return [IP, "netns", "exec", self.ns(node)] + list(argv)

    def popen(self, node, argv, **kwargs):
        return subprocess.Popen(self.cmd(node, argv), **kwargs)

    def run(self, node, argv, **kwargs):
        return subprocess.run(self.cmd(node, argv), **kwargs)

    def enter(self, node):
        """Move the calling thread into node's network namespace: sockets it
        opens from now on, and the threads and processes it starts, are
        there."""
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{self.ns(node)}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns {self.ns(node)}: {os.strerror(err)}")
        finally:
            os.close(fd)

    # --- faults ----------------------------------------------------------------

    def link_down(self, node):
        """A partition: node's interface down; its processes live on."""
        _run(IP, "-n", self.ns(node), "link", "set", "eth0", "down")

    def link_up(self, node):
        _run(IP, "-n", self.ns(node), "link", "set", "eth0", "up")

    def slow(self, node, rate="64kbit", burst="4kb", latency="400ms"):
        """A trickle both ways: tbf on node's eth0 (what it sends) and on the
        switch's port to it (what it receives)."""
        for ns, dev in ((self.ns(node), "eth0"), (self.switch, self.port(node))):
            _run(IP, "netns", "exec", ns, TC, "qdisc", "add", "dev", dev, "root", "tbf",
                 "rate", rate, "burst", burst, "latency", latency)
        self.slowed.add(node)

    def clear(self, node):
        for ns, dev in ((self.ns(node), "eth0"), (self.switch, self.port(node))):
            _run(IP, "netns", "exec", ns, TC, "qdisc", "del", "dev", dev, "root", check=False)
        self.slowed.discard(node)

    def qdisc(self, node):
        """tc's view of node's eth0 (for the report)."""
        return _run(IP, "netns", "exec", self.ns(node), TC, "-s", "qdisc", "show", "dev",
                    "eth0", check=False).stdout
