"""The process a sweep runs in: host devices, processes, memory, the compilation cache."""
