package engine

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/autobuild/autobuild/engine/build"
	"github.com/autobuild/autobuild/engine/config"
)

// legacyStamp is the run's Test-AutoBuild counter and timestamp, made
// once (stamp).
type legacyStamp struct {
	once  sync.Once
	stamp build.Stamp
}

// stamp is what the run's builds say in AUTOBUILD_COUNTER and
// AUTOBUILD_TIMESTAMP (config counter: and timestamp_format:): one value
// for every build of the run. The changelist counter waits for every
// module's revision (each resolved once per run, as the modules and the
// prefetch resolve them anyway).
func (r *runner) stamp(ctx context.Context) build.Stamp {
	r.legacy.once.Do(func() {
		var revs []string
		if r.cfg.Counter == config.CounterChangelist {
			for i := range r.cfg.Modules {
				if rev, err := r.resolve(ctx, i); err == nil {
					revs = append(revs, rev.ID)
				}
			}
		}
		r.legacy.stamp = stampFor(r.cfg.Counter, r.cfg.TimestampFormat, r.start, r.asOf(), revs)
	})
	return r.legacy.stamp
}

// stampFor makes the Stamp of counter mode and timestamp format, for a
// run that started at start with its sources as of asOf (zero: start)
// and its modules at revisions revs. Test-AutoBuild's values are seconds
// since the epoch (its Counter::Time, Counter::Timestamp and the
// runtime's timestamp) or a changelist number (Counter::ChangeList).
func stampFor(counter, format string, start, asOf time.Time, revs []string) build.Stamp {
	synced := asOf
	if synced.IsZero() {
		synced = start
	}
	var s build.Stamp
	switch counter {
	case config.CounterTime:
		s.Counter = strconv.FormatInt(start.Unix(), 10)
	case config.CounterTimestamp:
		s.Counter = strconv.FormatInt(synced.Unix(), 10)
	case config.CounterChangelist:
		newest := int64(-1)
		for _, r := range revs {
			if n, ok := revisionNumber(r); ok && n > newest {
				newest = n
			}
		}
		if newest >= 0 {
			s.Counter = strconv.FormatInt(newest, 10)
		} else {
			s.Note = "counter: changelist: no module's revision is a number, so AUTOBUILD_COUNTER is the run counter"
		}
	}
	if format == config.TimestampEpoch {
		s.Timestamp = strconv.FormatInt(synced.Unix(), 10)
	}
	return s
}

// revisionNumber is the number a module's revision names, when it names
// one: the whole revision, or what follows its last "@" (Subversion's
// path@revision), in each source's part of a module of several
// ("path=revision", space-separated) the newest.
func revisionNumber(rev string) (int64, bool) {
	best, found := int64(-1), false
	for _, part := range strings.Fields(rev) {
		n := part
		if i := strings.LastIndexByte(n, '@'); i >= 0 {
			n = n[i+1:]
		} else if i := strings.IndexByte(n, '='); i >= 0 {
			n = n[i+1:]
		}
		v, err := strconv.ParseUint(n, 10, 63)
		if err != nil || v > math.MaxInt64 {
			continue
		}
		if int64(v) > best {
			best, found = int64(v), true
		}
	}
	return best, found
}

// installRootKey is the cache key's word for what module i's build sees
// at its install root: config.InstallRootMerged when its dependencies'
// are beneath its own, "" when it sees its own only (as every build did
// before the setting: their keys are unchanged).
func (r *runner) installRootKey(i int) string {
	if r.cfg.Modules[i].MergedInstallRoot() && len(r.g.Deps(i)) > 0 {
		return config.InstallRootMerged
	}
	return ""
}
