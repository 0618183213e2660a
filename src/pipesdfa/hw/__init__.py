"""Hardware engine: RRAM device, crossbar mapping, PipeLayer/PipeSDFA dataflows, schedule, cost."""
