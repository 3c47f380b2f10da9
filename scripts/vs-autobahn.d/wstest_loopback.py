"""Runs Autobahn|Testsuite's wstest with every Twisted listener bound to 127.0.0.1.

wstest listens on all interfaces for the spec's url port (fuzzingserver mode);
this wrapper patches reactor.listenTCP to pass interface="127.0.0.1" and then
calls wstest's own run(). Python 2.7 (the Autobahn virtualenv's interpreter).

    python wstest_loopback.py -m fuzzingclient -s spec.json --webport=0
"""
import sys

from twisted.internet import reactor

_listen_tcp = reactor.listenTCP


def _listen_tcp_loopback(port, factory, backlog=50, interface=""):
    return _listen_tcp(port, factory, backlog=backlog, interface="127.0.0.1")


reactor.listenTCP = _listen_tcp_loopback

from autobahntestsuite.wstest import run  # noqa: E402 (after the patch)

if __name__ == "__main__":
    sys.argv[0] = "wstest"
    sys.exit(run())
