package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxMsec bounds parsed times so the conversion to time.Duration cannot
// overflow (Heartbeat would silently wrap a C long).
const maxMsec = 1e12

var errBadTime = errors.New(`invalid time (use seconds like "2" or "1.5", or "500ms", or "500000us"; other suffixes such as "10s" are not accepted)`)

// parseMsec implements cluster-glue's cl_get_msec: a bare number is seconds
// (decimals allowed), "ms"/"msec" milliseconds, "us"/"usec" microseconds;
// the result is rounded as (long)(x*1000+0.5). Unlike the C code, which
// matches only a prefix of the suffix and lets atof ignore junk, the number
// and the suffix must be exact.
func parseMsec(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	if num == "" {
		return -1, errBadTime
	}
	x, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return -1, errBadTime
	}
	switch unit {
	case "":
		x *= 1000
	case "ms", "msec":
	case "us", "usec":
		x /= 1000
	default:
		return -1, errBadTime
	}
	x += 0.5
	if x > maxMsec || math.IsNaN(x) {
		return -1, fmt.Errorf("time %q is out of range", s)
	}
	return int64(x), nil
}

func msec(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// parseBool implements cl_str_to_boolean (case-insensitive).
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "on", "yes", "y", "1":
		return true, nil
	case "false", "off", "no", "n", "0":
		return false, nil
	}
	return false, fmt.Errorf("invalid boolean %q (use yes/no, on/off, true/false, y/n, 1/0)", s)
}

// parseInt accepts a decimal integer in [lo, hi]. Heartbeat uses atoi, which
// silently turns "12abc" into 12 and "abc" into 0; we refuse both.
func parseInt(s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range %d..%d", n, lo, hi)
	}
	return n, nil
}

// asciiLower lowercases like Heartbeat's inplace_ascii_strdown: ASCII only.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
