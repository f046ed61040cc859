// Command tekton-check judges Tekton Task and Pipeline YAML with Tekton's own code.
//
//	tekton-check [--enable-api-fields=stable|beta|alpha] FILE...
//
// Every YAML document in the files is read the way Tekton's admission webhook reads it: the
// JSON decoded into the tekton.dev/v1 Go types with unknown fields refused (knative's
// webhook/json.Decode, as the webhook calls it), then SetDefaults and Validate in a "create"
// context, with Tekton's default configuration (feature flags, defaults) or the
// enable-api-fields a cluster's feature-flags ConfigMap sets.
//
// Validate checks each object alone. What Tekton checks only when a PipelineRun runs, once a
// pipeline task's Task is resolved, is checked here against the Tasks among the files given
// (a taskRef by name) or the embedded taskSpec. Tekton's code is called where it lives in a
// small package (pkg/workspace); the reconciler packages' checks are re-implemented with
// their logic and messages, since importing those packages would double the dependencies
// (about 1500 packages instead of 680) and the build time:
//
//   - the params passed: required ones (no default) given, types matching (the messages of
//     pkg/reconciler/taskrun), and none the Task does not declare (Tekton ignores those at
//     run time; this check does not, since passing one is always a mistake here);
//   - the workspaces: bound as the Task declares them (pkg/workspace.ValidateBindings, with
//     each binding the pipeline task makes backed by an emptyDir, as a PipelineRun would bind
//     it), and a Pipeline workspace that is optional not feeding a Task's required one;
//   - the results referenced by pipeline tasks and by the Pipeline's results: declared by the
//     referenced pipeline task's Task (messages of pkg/reconciler/pipelinerun/resources).
//
// A pipeline task whose Task comes from a resolver (hub, git, bundles, ...) is resolved only
// at run time: it is reported as not cross-checked, and is not an error.
//
// Every problem is printed to stderr as "FILE: Kind/name: message" and the exit status is 1;
// each valid object is printed to stdout as "FILE: Kind/name: valid". Exit status 2: usage.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tektoncd/pipeline/pkg/apis/config"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/workspace"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"knative.dev/pkg/apis"
	knjson "knative.dev/pkg/webhook/json"
	"sigs.k8s.io/yaml"
)

const apiVersion = "tekton.dev/v1"

// object is one YAML document: where it came from, and what it decoded to.
type object struct {
	file, kind, name string
	task             *v1.Task
	pipeline         *v1.Pipeline
	problems         []string
	notes            []string
}

func (o *object) label() string { return fmt.Sprintf("%s: %s/%s", o.file, o.kind, o.name) }

func (o *object) fail(format string, args ...any) {
	o.problems = append(o.problems, fmt.Sprintf(format, args...))
}

func main() {
	apiFields := flag.String("enable-api-fields", "",
		"as Tekton's feature-flags ConfigMap key: stable, beta or alpha (default: Tekton's default, "+config.DefaultEnableAPIFields+")")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: tekton-check [--enable-api-fields=stable|beta|alpha] FILE...  (Tekton v1 Task and Pipeline YAML)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx := context.Background()
	if *apiFields != "" {
		flags, err := config.NewFeatureFlagsFromMap(map[string]string{"enable-api-fields": *apiFields})
		if err != nil {
			fmt.Fprintf(os.Stderr, "tekton-check: --enable-api-fields: %v\n", err)
			os.Exit(2)
		}
		cfg := config.FromContextOrDefaults(ctx)
		cfg.FeatureFlags = flags
		ctx = config.ToContext(ctx, cfg)
	}
	ctx = apis.WithinCreate(ctx)
	var objects []*object
	for _, file := range flag.Args() {
		objects = append(objects, readFile(ctx, file)...)
	}
	tasks := map[string]*object{}
	for _, o := range objects {
		if o.kind == "Task" {
			tasks[o.name] = o // invalid ones too: a Pipeline using one is not cross-checked
		}
	}
	for _, o := range objects {
		if o.pipeline != nil {
			crossCheck(ctx, o, tasks)
		}
	}
	failed := false
	for _, o := range objects {
		for _, note := range o.notes {
			fmt.Printf("%s: note: %s\n", o.label(), note)
		}
		for _, problem := range o.problems {
			fmt.Fprintf(os.Stderr, "%s: %s\n", o.label(), problem)
			failed = true
		}
		if len(o.problems) == 0 {
			fmt.Printf("%s: valid\n", o.label())
		}
	}
	if failed {
		os.Exit(1)
	}
}

// readFile decodes, defaults and validates every document of one file.
func readFile(ctx context.Context, file string) []*object {
	data, err := os.ReadFile(file)
	if err != nil {
		return []*object{{file: file, kind: "File", name: "-", problems: []string{err.Error()}}}
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objects []*object
	for index := 0; ; index++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			objects = append(objects, &object{file: file, kind: "Document", name: fmt.Sprint(index), problems: []string{err.Error()}})
			break
		}
		if o := readDocument(ctx, file, index, doc); o != nil {
			objects = append(objects, o)
		}
	}
	return objects
}

func readDocument(ctx context.Context, file string, index int, doc []byte) *object {
	o := &object{file: file, kind: "Document", name: fmt.Sprint(index)}
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		o.fail("not valid YAML: %v", err)
		return o
	}
	if s := strings.TrimSpace(string(js)); s == "null" || s == "" {
		return nil // only comments, or an empty document between two `---`
	}
	var head struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := knjson.Unmarshal(js, &head); err != nil {
		o.fail("not a Kubernetes object: %v", err)
		return o
	}
	o.name = head.Metadata.Name
	if head.Kind != "" {
		o.kind = head.Kind
	}
	if head.APIVersion != apiVersion || (head.Kind != "Task" && head.Kind != "Pipeline") {
		o.fail("apiVersion %q kind %q: only %s Task and Pipeline are checked", head.APIVersion, head.Kind, apiVersion)
		return o
	}
	var resource interface {
		SetDefaults(context.Context)
		Validate(context.Context) *apis.FieldError
	}
	if head.Kind == "Task" {
		o.task = &v1.Task{}
		resource = o.task
	} else {
		o.pipeline = &v1.Pipeline{}
		resource = o.pipeline
	}
	// As the webhook does: unknown fields are errors (outside metadata, which the API
	// server's own schema checks).
	if err := knjson.Decode(js, resource, true); err != nil {
		o.task, o.pipeline = nil, nil
		o.fail("cannot decode incoming new object: %v", err)
		return o
	}
	resource.SetDefaults(ctx)
	if fe := resource.Validate(ctx); fe != nil {
		if errs := fe.Filter(apis.ErrorLevel); errs != nil {
			for _, e := range errs.WrappedErrors() {
				o.fail("%s", fieldError(e))
			}
		}
		if warnings := fe.Filter(apis.WarningLevel); warnings != nil {
			for _, e := range warnings.WrappedErrors() {
				o.notes = append(o.notes, "warning: "+fieldError(e))
			}
		}
	}
	return o
}

// fieldError is one of Validate's errors on one line: "message: paths; details" as
// FieldError.Error() prints it, without the ": " when the error names no field.
func fieldError(e *apis.FieldError) string {
	text := e.Message
	if len(e.Paths) != 0 {
		text += ": " + strings.Join(e.Paths, ", ")
	}
	if e.Details != "" {
		text += "; " + strings.ReplaceAll(e.Details, "\n", "; ")
	}
	return text
}

// resolved is a pipeline task and the spec of the Task it runs (nil when that is known only
// at run time).
type resolved struct {
	path     string
	pt       *v1.PipelineTask
	taskName string
	spec     *v1.TaskSpec
}

// crossCheck checks a Pipeline's tasks against the Tasks they run, as Tekton does once a
// PipelineRun has resolved them.
func crossCheck(ctx context.Context, o *object, tasks map[string]*object) {
	spec := &o.pipeline.Spec
	byName := map[string]*resolved{}
	var all []*resolved
	sections := []struct {
		name string
		list []v1.PipelineTask
	}{{"tasks", spec.Tasks}, {"finally", spec.Finally}}
	for _, section := range sections {
		for i := range section.list {
			pt := &section.list[i]
			r := &resolved{path: fmt.Sprintf("spec.%s[%d] (%s)", section.name, i, pt.Name), pt: pt}
			switch {
			case pt.TaskSpec != nil && pt.TaskSpec.Spec.Raw == nil:
				r.taskName, r.spec = pt.Name, &pt.TaskSpec.TaskSpec
			case pt.TaskRef != nil && pt.TaskRef.Resolver == "" && pt.TaskRef.APIVersion == "" &&
				pt.TaskRef.Kind == v1.NamespacedTaskKind:
				task, ok := tasks[pt.TaskRef.Name]
				switch {
				case !ok:
					o.fail("%s: taskRef.name: Task %q is not among the files given", r.path, pt.TaskRef.Name)
				case task.task == nil || len(task.problems) != 0:
					o.notes = append(o.notes, fmt.Sprintf("%s: not cross-checked: Task %q (%s) is invalid", r.path, pt.TaskRef.Name, task.file))
				default:
					r.taskName, r.spec = task.task.Name, &task.task.Spec
				}
			case pt.TaskRef != nil && pt.TaskRef.Resolver != "":
				o.notes = append(o.notes, fmt.Sprintf("%s: not cross-checked: its Task is resolved at run time by the %q resolver", r.path, pt.TaskRef.Resolver))
			default:
				o.notes = append(o.notes, fmt.Sprintf("%s: not cross-checked: it runs no Task named in this namespace (a custom task or a Pipeline)", r.path))
			}
			byName[pt.Name] = r
			all = append(all, r)
		}
	}
	for _, r := range all {
		for _, ref := range v1.PipelineTaskResultRefs(r.pt) {
			if err := checkResultRef(ref, byName); err != nil {
				o.fail("%s: invalid result reference in pipeline task %q: %v", r.path, r.pt.Name, err)
			}
		}
		if r.spec == nil {
			continue
		}
		for _, problem := range checkParams(r) {
			o.fail("%s: %s", r.path, problem)
		}
		for _, problem := range checkWorkspaces(ctx, spec, r) {
			o.fail("%s: %s", r.path, problem)
		}
	}
	for i, result := range spec.Results {
		expressions, _ := result.GetVarSubstitutionExpressions()
		for _, ref := range v1.NewResultRefs(expressions) {
			if err := checkResultRef(ref, byName); err != nil {
				o.fail("spec.results[%d]: invalid pipeline result %q: %v", i, result.Name, err)
			}
		}
	}
}

// checkParams: the params a pipeline task passes against the params its Task declares.
// The first two messages are those of Tekton's TaskRun reconciler (validate_taskrun.go).
func checkParams(r *resolved) []string {
	declared := map[string]v1.ParamSpec{}
	for _, p := range r.spec.Params {
		declared[p.Name] = p
	}
	given := append(v1.Params{}, r.pt.Params...)
	given = append(given, r.pt.Matrix.GetAllParams()...)
	names := given.ExtractNames()
	var problems, missing, wrongType []string
	for _, p := range r.spec.Params {
		if !names.Has(p.Name) && p.Default == nil {
			missing = append(missing, p.Name)
		}
	}
	if len(missing) != 0 {
		problems = append(problems, fmt.Sprintf("invalid input params for task %s: missing values for these params which have no default values: %s", r.taskName, missing))
	}
	for _, p := range r.pt.Params {
		spec, ok := declared[p.Name]
		if !ok {
			continue
		}
		// A whole array or object result or param passed as "$(...[*])" is a string here.
		if p.Value.Type == v1.ParamTypeString && spec.Type != v1.ParamTypeString && v1.VariableSubstitutionRegex.MatchString(p.Value.StringVal) {
			continue
		}
		if p.Value.Type != spec.Type {
			wrongType = append(wrongType, p.Name)
		}
	}
	for _, p := range r.pt.Matrix.GetAllParams() {
		if spec, ok := declared[p.Name]; ok && spec.Type != v1.ParamTypeString {
			wrongType = append(wrongType, p.Name)
		}
	}
	if len(wrongType) != 0 {
		problems = append(problems, fmt.Sprintf("invalid input params for task %s: param types don't match the user-specified type: %s", r.taskName, wrongType))
	}
	for _, p := range given {
		if _, ok := declared[p.Name]; !ok {
			problems = append(problems, fmt.Sprintf("param %q is passed but Task %q declares no such param (Tekton ignores it at run time)", p.Name, r.taskName))
		}
	}
	return problems
}

// checkWorkspaces binds the pipeline task's workspaces as a PipelineRun would (an emptyDir
// for each, and for an embedded taskSpec the workspaces it uses propagated, as the
// PipelineRun reconciler does), then validates them with Tekton's ValidateBindings.
func checkWorkspaces(ctx context.Context, ps *v1.PipelineSpec, r *resolved) []string {
	var problems []string
	bound := sets.NewString()
	var bindings []v1.WorkspaceBinding
	bind := func(name string) {
		if !bound.Has(name) {
			bound.Insert(name)
			bindings = append(bindings, v1.WorkspaceBinding{Name: name, EmptyDir: &corev1.EmptyDirVolumeSource{}})
		}
	}
	for _, w := range r.pt.Workspaces {
		bind(w.Name)
	}
	if r.pt.TaskSpec != nil {
		used, err := workspace.FindWorkspacesUsedByTask(*r.spec)
		if err != nil {
			problems = append(problems, err.Error())
		}
		for _, name := range used.List() {
			bind(name)
		}
	}
	if err := workspace.ValidateBindings(ctx, r.spec.Workspaces, bindings); err != nil {
		problems = append(problems, err.Error())
	}
	// ValidateOptionalWorkspaces (pkg/reconciler/pipelinerun/resources): a Pipeline workspace
	// that may be left out must not feed a workspace the Task requires.
	optional := sets.NewString()
	for _, w := range ps.Workspaces {
		if w.Optional {
			optional.Insert(w.Name)
		}
	}
	for _, w := range r.pt.Workspaces {
		if !optional.Has(w.Workspace) {
			continue
		}
		for _, decl := range r.spec.Workspaces {
			if decl.Name == w.Name && !decl.Optional {
				problems = append(problems, fmt.Sprintf("pipeline workspace %q is marked optional but pipeline task %q requires it be provided", w.Workspace, r.pt.Name))
			}
		}
	}
	return problems
}

// checkResultRef: the referenced pipeline task exists and its Task declares the result
// (validateResultRef in pkg/reconciler/pipelinerun/resources, same messages). A pipeline
// task whose Task is resolved only at run time cannot be checked.
func checkResultRef(ref *v1.ResultRef, byName map[string]*resolved) error {
	target, ok := byName[ref.PipelineTask]
	if !ok {
		return fmt.Errorf("referenced pipeline task %q does not exist", ref.PipelineTask)
	}
	if target.spec == nil {
		return nil
	}
	for _, result := range target.spec.Results {
		if result.Name == ref.Result {
			return nil
		}
	}
	return fmt.Errorf("%q is not a named result returned by pipeline task %q", ref.Result, ref.PipelineTask)
}
