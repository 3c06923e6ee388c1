// Command democluster starts a Slurm cluster of two nodes on this machine
// (package slurmtest), runs a command with the cluster's environment
// added (SLURM_CONF), stops the cluster and exits with the command's exit
// code:
//
//	democluster [-dir D] [-share path]... -- command args...
//
// The cluster lives in D (an empty or new folder, kept afterwards with the
// daemons' logs), else in a temporary folder removed afterwards. Each
// -share path is visible, read-only, at the same path on every node.
// SIGINT and SIGTERM are passed to the command (a second one kills it);
// the cluster is stopped when it exits. It needs root.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/autobuild/autobuild/internal/slurmtest"
)

type paths []string

func (p *paths) String() string     { return strings.Join(*p, ",") }
func (p *paths) Set(s string) error { *p = append(*p, s); return nil }

func main() { os.Exit(run()) }

func run() int {
	fs := flag.NewFlagSet("democluster", flag.ContinueOnError)
	dir := fs.String("dir", "", "the cluster's folder (empty or new; default: a temporary folder)")
	var share paths
	fs.Var(&share, "share", "a path every node sees, read-only (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: democluster [-dir D] [-share path]... -- command args...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	args := fs.Args()
	if len(args) == 0 {
		fs.Usage()
		return 2
	}

	// Caught from here on, so that a signal during start-up still stops
	// the cluster.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	d := *dir
	if d == "" {
		tmp, err := os.MkdirTemp("", "democluster-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "democluster:", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		d = tmp
	}
	c, err := slurmtest.StartIn(d, slurmtest.Options{Share: share})
	if err != nil {
		fmt.Fprintln(os.Stderr, "democluster:", err)
		return 1
	}
	stop := func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "democluster: stop:", err)
		}
	}
	defer stop()
	fmt.Fprintf(os.Stderr, "democluster: cluster up in %s (%s)\n", c.Dir, strings.Join(c.Env(), " "))
	for _, n := range c.Nodes {
		fmt.Fprintf(os.Stderr, "democluster: node %s %s features %s\n", n.Name, n.Addr, strings.Join(n.Features, ","))
	}
	select {
	case sig := <-sigs:
		fmt.Fprintf(os.Stderr, "democluster: %v: stopping\n", sig)
		return 128 + int(sig.(syscall.Signal))
	default:
	}

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), c.Env()...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "democluster:", err)
		return 127
	}
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case sig := <-sigs:
				if n++; n == 1 {
					cmd.Process.Signal(sig)
				} else {
					cmd.Process.Kill()
				}
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && st.Signaled() {
		return 128 + int(st.Signal())
	}
	if err != nil && cmd.ProcessState.ExitCode() < 0 {
		fmt.Fprintln(os.Stderr, "democluster:", err)
		return 1
	}
	return cmd.ProcessState.ExitCode()
}
