"""From spec and sources to packages: the SRPM, mock or rpmbuild, their configs, logs and progress."""
