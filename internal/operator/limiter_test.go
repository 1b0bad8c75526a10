package operator

import (
	"fmt"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/netlimit"
)

// Found by the red team: the failure limiter kept at most 10000 client keys and, full of keys that
// had not refilled, stopped limiting new ones ("fail open on limiting only"). One failure from
// each of 10000 IPv6 /64s (a single /48 holds 65536) filled it, and every further address was
// never answered 429. Now the least recently failed client is forgotten instead.
func TestFailureLimiterDoesNotFailOpenWhenFull(t *testing.T) {
	l := newFailureLimiter(0.5, 20, 10000) // the gateway's: server.go
	now := time.Unix(1_800_000_000, 0)
	for i := 0; i < 10000; i++ { // one attacker's /48: 2001:db8:1:XXXX::/64
		l.fail(netlimit.ClientKey(fmt.Sprintf("[2001:db8:1:%x::1]:443", i)), now)
	}
	attacker := netlimit.ClientKey("[2001:db8:1:ffff::1]:443")
	for i := 0; i < 1000; i++ {
		if l.blocked(attacker, now) {
			t.Logf("blocked after %d failures", i)
			return
		}
		l.fail(attacker, now)
	}
	t.Fatal("1000 failures from one /64, after 10000 single failures from its neighbouring /64s, were never blocked")
}
