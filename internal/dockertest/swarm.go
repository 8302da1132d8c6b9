package dockertest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

// Swarm mode: a test that runs a compose file as a Docker Swarm stack
// puts the engine in swarm mode itself, and takes it out again.
//
//	sw := dockertest.NewSwarm(t)           // after Engine; skips if the engine is in someone's swarm
//	s := sw.Deploy("chNN/docker-compose.yaml", "BOOKSTORE_TAG="+tag)
//	s.Tasks("recommendations")             // then s.UpdateState, dockertest.Docker
//
// The swarm's one node carries the label io.gobookstore.dockertest=RUN,
// and every stack is named bookstoretest, the run and a number. Just
// before `docker swarm init`, NewSwarm also leaves a marker file in the
// runs' lock folder, swarm-RUN, which says whether docker_gwbridge (the
// bridge swarm creates for its containers' outside traffic) was there
// before: a run killed before its cleanup left a swarm that the next
// NewSwarm recognises as a gone run's, by the label or, if the run died
// between the two, by a marker written in the minute before the swarm was
// made, and takes down.

// swarmMarker is the file that tells a run may have made the swarm; its
// content is gwbridgeKept if docker_gwbridge was there before.
func swarmMarker(run string) string { return filepath.Join(lockDir(), "swarm-"+run) }

const (
	gwbridge     = "docker_gwbridge"
	gwbridgeKept = "keep " + gwbridge
)

// Swarm is the engine in swarm mode, made by one test: a one-node swarm
// advertised on 127.0.0.1.
type Swarm struct {
	t   *testing.T
	run string
}

// NewSwarm puts the engine in swarm mode for the test and leaves the
// swarm when the test ends, removing what swarm mode made (docker_gwbridge,
// unless it was there before). A swarm that a gone run left is taken down
// first. It skips the test if the engine is in another swarm: someone's,
// or a live run's. Call it after Engine.
func NewSwarm(t *testing.T) *Swarm {
	t.Helper()
	me := runID(t)
	if state := swarmState(t); state != "inactive" {
		owner := swarmOwner(t)
		switch {
		case owner == "":
			t.Skipf("the engine is in a swarm this test did not make (docker info: Swarm: %s): "+
				"`docker swarm leave --force` to run it", state)
		case owner == me || alive(owner):
			t.Skipf("another test run (%s) has the engine in swarm mode", owner)
		}
		t.Logf("taking down the swarm of run %s, which is gone", owner)
		leaveSwarm(t, owner)
		sweep(t, func(id string) bool { return id == owner }) // its images, which its containers held
	}
	// Markers of gone runs whose swarm is gone too (killed as they left).
	markers, _ := filepath.Glob(swarmMarker("????????"))
	for _, m := range markers {
		if owner := strings.TrimPrefix(filepath.Base(m), "swarm-"); !alive(owner) {
			_ = os.Remove(m)
		}
	}
	keep := ""
	if _, err := command(t, "docker", "network", "inspect", gwbridge); err == nil {
		keep = gwbridgeKept
	}
	if err := os.WriteFile(swarmMarker(me), []byte(keep), 0o600); err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	t.Cleanup(func() { leaveSwarm(t, me) })
	Docker(t, "swarm", "init", "--advertise-addr", "127.0.0.1")
	node := strings.TrimSpace(Docker(t, "info", "--format", "{{.Swarm.NodeID}}"))
	Docker(t, "node", "update", "--label-add", Label+"="+me, node)
	return &Swarm{t: t, run: me}
}

// swarmState is the engine's swarm state: inactive, pending, active,
// error or locked.
func swarmState(t testing.TB) string {
	t.Helper()
	return strings.TrimSpace(Docker(t, "info", "--format", "{{.Swarm.LocalNodeState}}"))
}

// swarmOwner returns the run that made the engine's swarm: its node's
// label; or, if the node has none, the gone run whose marker was written
// in the minute before the swarm was made; "" if neither tells.
func swarmOwner(t testing.TB) string {
	t.Helper()
	out, err := command(t, "docker", "node", "inspect", "self", "--format", `{{index .Spec.Labels "`+Label+`"}}`)
	if owner := strings.TrimSpace(out); err == nil && owner != "" {
		return owner
	}
	out, err = command(t, "docker", "info", "--format", "{{json .Swarm.Cluster.CreatedAt}}")
	var created time.Time
	if err != nil || json.Unmarshal([]byte(out), &created) != nil {
		return ""
	}
	markers, _ := filepath.Glob(swarmMarker("????????"))
	for _, m := range markers {
		owner := strings.TrimPrefix(filepath.Base(m), "swarm-")
		if fi, err := os.Stat(m); err == nil && !alive(owner) &&
			!created.Before(fi.ModTime().Add(-time.Second)) && created.Before(fi.ModTime().Add(time.Minute)) {
			return owner
		}
	}
	return ""
}

// leaveSwarm takes run's swarm down: its stacks (and so their containers),
// the swarm, and docker_gwbridge unless the marker says it was there
// before. Errors are the test's, but everything is tried.
func leaveSwarm(t testing.TB, run string) {
	t.Helper()
	if state := swarmState(t); state != "inactive" {
		if out, err := command(t, "docker", "swarm", "leave", "--force"); err != nil {
			t.Errorf("docker swarm leave --force: %v\n%s", err, out)
		}
	}
	// Leaving removes the services, but not always their containers,
	// which hold docker_gwbridge.
	out, _ := command(t, "docker", "ps", "-a", "--filter", "label=com.docker.stack.namespace",
		"--format", `{{.ID}} {{.Label "com.docker.stack.namespace"}}`)
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if id, stack, _ := strings.Cut(line, " "); strings.HasPrefix(stack, projectPrefix+run) {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		_, _ = command(t, "docker", append([]string{"rm", "-f", "-v"}, ids...)...)
	}
	keep, _ := os.ReadFile(swarmMarker(run))
	if string(keep) != gwbridgeKept {
		if _, err := command(t, "docker", "network", "inspect", gwbridge); err == nil {
			if out, err := command(t, "docker", "network", "rm", gwbridge); err != nil {
				t.Errorf("docker network rm %s: %v\n%s", gwbridge, err, out)
			}
		}
	}
	_ = os.Remove(swarmMarker(run))
	t.Logf("left the swarm of run %s", run)
}

var swarmStacks atomic.Int64

// SwarmStack is one stack of a compose file deployed on a Swarm.
type SwarmStack struct {
	t    *testing.T
	file string // the compose file, relative to the repository root
	env  []string
	// Name is the stack's name: bookstoretest, the run, "w" and a number.
	// Its services are named Name_SERVICE.
	Name string
}

// Deploy deploys file (relative to the repository root) as a new stack,
// with env added to docker's environment (for the file's variables), and
// with --resolve-image never, so that the services run the images the
// test built, which no registry has. When the test ends the stack is
// removed, and the test fails if a container, network or secret of it is
// left a minute later.
func (sw *Swarm) Deploy(file string, env ...string) *SwarmStack {
	t := sw.t
	t.Helper()
	s := &SwarmStack{t: t, file: file, env: env, Name: projectPrefix + sw.run + "w" + strconv.FormatInt(swarmStacks.Add(1), 10)}
	t.Cleanup(s.remove)
	s.Deploy()
	return s
}

// Deploy deploys the stack again: what changed in the compose file or
// its variables is rolled out as each service's update_config says.
func (s *SwarmStack) Deploy() {
	s.t.Helper()
	ctx, cancel := commandContext(s.t)
	defer cancel()
	args := []string{"stack", "deploy", "--resolve-image", "never", "--prune", "-c", s.file, s.Name}
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Dir = proctest.ModuleRoot(s.t)
	cmd.Env = append(os.Environ(), s.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// remove removes the stack and waits until its containers, networks and
// secrets are gone, removing networks that `docker stack rm` could not
// yet (it does not wait for the containers that use them).
func (s *SwarmStack) remove() {
	t := s.t
	start := time.Now()
	if out, err := command(t, "docker", "stack", "rm", s.Name); err != nil {
		t.Errorf("docker stack rm %s: %v\n%s", s.Name, err, out)
		return
	}
	filter := "label=com.docker.stack.namespace=" + s.Name
	left := func(args ...string) []string {
		out, _ := command(t, "docker", append(args, "-q", "--filter", filter)...)
		return strings.Fields(out)
	}
	deadline := time.Now().Add(time.Minute)
	if d, ok := t.Deadline(); ok && d.Add(-10*time.Second).Before(deadline) {
		deadline = d.Add(-10 * time.Second)
	}
	var containers, networks, secrets []string
	testwait.UntilWithin(t, max(time.Until(deadline), time.Second), "the stack "+s.Name+" is gone", func() bool {
		containers, networks, secrets = left("ps", "-a"), left("network", "ls"), left("secret", "ls")
		if len(containers) == 0 && len(networks) > 0 {
			_, _ = command(t, "docker", append([]string{"network", "rm"}, networks...)...)
			networks = left("network", "ls")
		}
		return len(containers)+len(networks)+len(secrets) == 0
	})
	t.Logf("removed the stack %s in %v", s.Name, time.Since(start).Round(100*time.Millisecond))
}

// Service returns the full name of one of the stack's services.
func (s *SwarmStack) Service(name string) string { return s.Name + "_" + name }

// Task is one task of a service: a replica's run in one container. A
// replica that stops or fails is replaced by a new task in the same slot.
type Task struct {
	ID           string
	Slot         int
	DesiredState string // what swarm wants: running, shutdown, ...
	State        string // what is: new, ..., starting (its healthcheck has yet to pass), running, complete, failed, shutdown
	Err          string // why it failed, if it did
	Container    string // its container's ID, once it has one
}

// Running reports whether the task runs, healthy if it has a healthcheck,
// and is meant to.
func (t Task) Running() bool { return t.State == "running" && t.DesiredState == "running" }

// Tasks returns every task of the stack's service, those swarm keeps of
// the past included.
func (s *SwarmStack) Tasks(service string) []Task {
	s.t.Helper()
	ids := strings.Fields(Docker(s.t, "service", "ps", "-q", "--no-trunc", s.Service(service)))
	if len(ids) == 0 {
		return nil
	}
	var raw []struct {
		ID           string
		Slot         int
		DesiredState string
		Status       struct {
			State           string
			Err             string
			ContainerStatus *struct{ ContainerID string }
		}
	}
	out := Docker(s.t, append([]string{"inspect", "--type", "task"}, ids...)...)
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		s.t.Fatalf("dockertest: docker inspect of %s's tasks: %v\n%s", service, err, out)
	}
	tasks := make([]Task, len(raw))
	for i, r := range raw {
		tasks[i] = Task{ID: r.ID, Slot: r.Slot, DesiredState: r.DesiredState, State: r.Status.State, Err: r.Status.Err}
		if r.Status.ContainerStatus != nil {
			tasks[i].Container = r.Status.ContainerStatus.ContainerID
		}
	}
	return tasks
}

// UpdateState returns the state of the service's last update (updating,
// paused, completed, rollback_started, rollback_paused or
// rollback_completed), or "" if it has had none.
func (s *SwarmStack) UpdateState(service string) string {
	s.t.Helper()
	return strings.TrimSpace(Docker(s.t, "service", "inspect", "--format",
		"{{with .UpdateStatus}}{{.State}}{{end}}", s.Service(service)))
}
