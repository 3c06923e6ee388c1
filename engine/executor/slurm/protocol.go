package slurm

import (
	"errors"
	"fmt"
	"time"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/sandbox"
)

// The channels of the two streams (package stream's frames). The engine
// sends chJob, then the trees' tar bytes (chTree) and their summary
// (chSummary). The node answers chNode first, the step's output (chStdout,
// chStderr) as it comes, the outputs' tar bytes and summary, and chResult
// last.
const (
	chJob     = 'h' // engine → node: the job, JSON, first
	chTree    = 't' // both ways: tar bytes of the trees
	chSummary = 's' // both ways: the stream.Summary of the tar bytes, after them
	chNode    = 'n' // node → engine: where the step runs, first
	chStdout  = 'o' // node → engine: the step's output
	chStderr  = 'e'
	chResult  = 'r' // node → engine: the step's result, last
)

// job is a build step as the node gets it: the step without its writers,
// and where its folders are in the stream.
type job struct {
	BuildRoot string          `json:"build_root"`
	Module    string          `json:"module"`
	ID        sandbox.ID      `json:"id"`
	Args      []string        `json:"args"`
	Dir       string          `json:"dir"`
	Env       []string        `json:"env"`
	LogLimit  int64           `json:"log_limit"`
	Timeout   time.Duration   `json:"timeout"`
	Profile   sandbox.Profile `json:"profile"`
	Inputs    []string        `json:"inputs,omitempty"`
	Outputs   []string        `json:"outputs"`
	Merge     *executor.Merge `json:"merge,omitempty"`
	// Trees names each folder the stream carries: top name → path.
	Trees map[string]string `json:"trees"`
	// Back names the outputs the node sends back: top name → path (the
	// Outputs less the Scratch ones).
	Back map[string]string `json:"back"`
	// MaxBytes bounds the file data of each stream, either way.
	MaxBytes int64 `json:"max_bytes"`
}

// where is the node's first answer.
type where struct {
	Node string `json:"node"`
	Job  string `json:"job"`
}

// answer is the node's last: the step's result, or why it could not run.
type answer struct {
	Result sandbox.Result `json:"result"`
	Err    *stepErr       `json:"err,omitempty"`
}

// stepErr carries a step's error from the node: a *sandbox.StepError
// keeps its stage (a confinement failure stays sandbox.ErrUnsupported),
// another error whether it was ErrUnsupported.
type stepErr struct {
	Msg         string `json:"msg"`
	Stage       string `json:"stage,omitempty"`
	Level       string `json:"level,omitempty"`
	Unsupported bool   `json:"unsupported,omitempty"`
}

func toStepErr(err error) *stepErr {
	if err == nil {
		return nil
	}
	if se := (*sandbox.StepError)(nil); errors.As(err, &se) {
		return &stepErr{Msg: se.Msg, Stage: se.Stage, Level: se.Level}
	}
	return &stepErr{Msg: err.Error(), Unsupported: errors.Is(err, sandbox.ErrUnsupported)}
}

// err is the error again, on the engine's side, saying which node.
func (e *stepErr) err(node string) error {
	switch {
	case e == nil:
		return nil
	case e.Stage != "":
		return &sandbox.StepError{Stage: e.Stage, Level: e.Level, Msg: e.Msg + " (on node " + node + ")"}
	case e.Unsupported:
		return fmt.Errorf("%w: on node %s: %s", sandbox.ErrUnsupported, node, e.Msg)
	}
	return fmt.Errorf("on node %s: %s", node, e.Msg)
}

// probe is what a node says of itself (ProbeArg).
type probe struct {
	Node     string            `json:"node"`
	Host     sandbox.Host      `json:"host"`
	Reserved []sandbox.IDRange `json:"reserved"`
}
