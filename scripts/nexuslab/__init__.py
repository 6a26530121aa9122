"""nexuslab: the host side of Neuron OS's QEMU runs, as one library.

Every script that boots the OS (`harness.py`, `os2vm.py`, `shell-test.py`,
`storage-crash.py`, `real-peers.py`, `just run`) uses these modules and nothing of its own:

- `catalogue`: the marker table of docs/markers.md (required/forbidden rows
  per profile and gate, owners, provenance of a console line, and the
  `peer:<key>` rows the host side reacts to);
- `qemu`: the one QEMU command builder and the one `Vm` runner (UART
  reader, wait helpers, stop routine);
- `ports`: loopback ports that cannot race (held sockets, or a bounded
  retry when QEMU itself binds);
- `netns`: tap devices only inside a private network namespace (`unshare -n`),
  checked before QEMU starts;
- `netpeers`, `l2peer`, `lossy_relay`: the host peers;
- `hub`: the loopback Ethernet hub of `just mesh`;
- `report`: a run as a self-contained HTML/SVG page (mesh, os2vm);
- `expect`: `python3 -m nexuslab.expect <key>` checks piped console output
  for a catalogued marker from its owner (the `cargo boot` step of `just test`).

See docs/harness.md, "The harness library".
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
