#!/usr/bin/env python3
"""Run tests/fakeprov/server.py bound to one given address instead of 127.0.0.1.

The netem run (tests/netem/run.sh) starts the fake provider inside a private
network namespace whose only links are its loopback and one end of a veth
pair; the server must listen on that veth end so tern, in the peer namespace,
reaches it across the link the kernel faults are applied to. server.py binds
loopback only by design, so rather than widen it, this wrapper loads it as a
module and swaps its listener class for one bound to --bind. Everything else
(routes, faults, control API, exit rules) is server.py's own.

  ns_server.py --bind 10.231.7.1 [server.py options...]
"""
import importlib.util
import ipaddress
import os
import sys
from http.server import ThreadingHTTPServer


def main():
    args = sys.argv[1:]
    if len(args) < 2 or args[0] != "--bind":
        sys.exit("usage: ns_server.py --bind ADDRESS [server.py options]")
    host = args[1]
    addr = ipaddress.ip_address(host)
    # Only private test addresses: this must never listen on a routable one.
    if not addr.is_private:
        sys.exit("ns_server.py: refusing to bind %s: not a private address" % host)
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.environ.get("TERN_FAKEPROV_SERVER") or os.path.join(here, "..", "fakeprov", "server.py")
    spec = importlib.util.spec_from_file_location("fakeprov_server", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    class BoundServer(mod.Server):
        def __init__(self, name, port):
            self.name = name
            ThreadingHTTPServer.__init__(self, (host, port), mod.Handler)

    mod.Server = BoundServer
    sys.argv = [path] + args[2:]
    mod.main()


if __name__ == "__main__":
    main()
