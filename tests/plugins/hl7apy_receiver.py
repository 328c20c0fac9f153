"""A second receiver nobody here wrote, for the tap's tests: hl7apy's MLLP server (a threaded
``socketserver``), which takes one message per connection, answers it with an ACK built by
hl7apy, and closes the connection. Prints its port, then serves until killed."""

from __future__ import annotations

from hl7apy.core import Message
from hl7apy.mllp import AbstractHandler, MLLPServer
from hl7apy.parser import parse_message


class Acknowledge(AbstractHandler):  # type: ignore[misc]
    def reply(self) -> str:
        incoming = parse_message(self.incoming_message, find_groups=False)
        ack = Message("ACK", version=incoming.version)
        ack.msh.msh_3 = incoming.msh.msh_5.value
        ack.msh.msh_4 = incoming.msh.msh_6.value
        ack.msh.msh_5 = incoming.msh.msh_3.value
        ack.msh.msh_6 = incoming.msh.msh_4.value
        ack.msh.msh_10 = "HL7APY" + incoming.msh.msh_10.value
        ack.msa.msa_1 = "AA"
        ack.msa.msa_2 = incoming.msh.msh_10.value
        return str(ack.to_mllp())


def main() -> None:
    server = MLLPServer("127.0.0.1", 0, {"ADT^A01^ADT_A01": (Acknowledge,)})
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
