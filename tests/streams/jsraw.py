"""jsraw.py: one raw NATS connection for JetStream API calls, shared by the streams tests that
speak the protocol by hand (byte-exact requests and replies, against nats-server 2.9.10 and
Sluice alike). API replies come on _R.<n> (sid 1), PubAcks on _P (sid 2); a test's subclass
names its own further subscriptions in extra_subs (sids 3 and up) and adds its own calls."""
import json

import natsh
from natsh import CheckFailed, Raw

CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'


def pub_bytes(subj, reply, data, hdrs=None):
    """PUB, or HPUB when hdrs (a list of (key, value) bytes, repeats kept in order)."""
    subj = subj.encode() if isinstance(subj, str) else subj
    sp = b" " + reply if reply else b""
    if hdrs is None:
        return b"PUB %s%s %d\r\n%s\r\n" % (subj, sp, len(data), data)
    h = b"NATS/1.0\r\n" + b"".join(b"%s: %s\r\n" % kv for kv in hdrs) + b"\r\n"
    return b"HPUB %s%s %d %d\r\n%s%s\r\n" % (subj, sp, len(h), len(h) + len(data), h, data)


class Js:
    extra_subs = b""

    def __init__(self, t):
        self.r = Raw(t)
        self.n = 0
        self.r.send(CONNECT + b"SUB _R.* 1\r\nSUB _P 2\r\n" + self.extra_subs + b"PING\r\n")
        line = self.r.read_line()
        if line != b"PONG\r\n":
            raise CheckFailed("CONNECT: %s" % natsh.show(line))

    def request(self, subj, body=b""):
        """(control line, payload bytes) of the reply to a request on subj."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":")).encode()
        self.n += 1
        inbox = b"_R.%d" % self.n
        self.r.send(b"PUB %s %s %d\r\n%s\r\n" % (subj.encode(), inbox, len(body), body))
        line, data = self.r.read_msg()
        if line.split()[:2] != [b"MSG", inbox]:
            raise CheckFailed("reply to %s: %s (want MSG %s)" % (subj, natsh.show(line), inbox))
        return line, data

    def api(self, subj, body=b""):
        return json.loads(self.request(subj, body)[1])

    def publish(self, subj, data, hdrs=None):
        """(control line, PubAck payload) of a publish (HPUB when hdrs)."""
        self.r.send(pub_bytes(subj, b"_P", data, hdrs))
        line, ack = self.r.read_msg()
        if line.split()[:3] not in ([b"MSG", b"_P", b"2"], [b"HMSG", b"_P", b"2"]):
            raise CheckFailed("PubAck for %s: %s" % (subj, natsh.show(line)))
        return line, ack

    def pub_ack(self, subj, data, hdrs=None):
        """The PubAck's bytes."""
        return self.publish(subj, data, hdrs)[1]

    def pub_json(self, subj, data, hdrs=None):
        """The PubAck, decoded."""
        return json.loads(self.publish(subj, data, hdrs)[1])

    def close(self):
        self.r.close()
