#!/bin/bash
# MISC_CHECK: up when HOST accepts a TCP connection on PORT.
exec 3<>"/dev/tcp/$1/$2"
