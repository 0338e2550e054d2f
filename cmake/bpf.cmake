# filled by the bpf work
