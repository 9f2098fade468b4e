"""Live checks against a deployed stack (local emulator or AWS): the checks, the probes that
run commands on hosts, and the reports and graph that present the results."""
