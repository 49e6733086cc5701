"""Checks of terraform/ (the berth-runners module, its examples) that need no cloud account.

Run with: /usr/bin/python3 -m pytest -q --basetemp=/tmp/pt-x tests/infra/test_terraform.py

terraform/modules/berth-runners is the module; terraform/modules/selectel-project
creates a project; terraform/examples/{new-project,existing-cluster} call them
with provider blocks and an S3 backend.

The real selectel and openstack providers cannot be downloaded here (no
network). `terraform validate` and `terraform test` (whose mock_provider blocks
still take each provider's schema from a running provider) run against
tests/infra/terraform/fake_provider.py instead: a stand-in serving the schema of
the resources terraform/ uses, installed offline through a filesystem_mirror
as registry.terraform.io/selectel/selectel and
terraform-provider-openstack/openstack at the pinned versions. It needs protoc
and python3-grpcio/python3-protobuf (scripts/deps.sh) and terraform (not in
Debian: without it the tests that run it skip, saying so).

There is no HCL library here, so HCL is also read with the small scanner below:
it blanks out comments and neutralises the braces and quotes inside string
literals and heredocs, so that blocks can be matched by their braces. Enough
for the plain HCL in terraform/, not a general parser.
"""

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "terraform"
README = TF_DIR / "README.md"
MODULE = TF_DIR / "modules" / "berth-runners"
PROJECT_MODULE = TF_DIR / "modules" / "selectel-project"
SUBMODULES = sorted(p for p in (MODULE / "modules").iterdir() if p.is_dir())
NEW_PROJECT = TF_DIR / "examples" / "new-project"
EXISTING_CLUSTER = TF_DIR / "examples" / "existing-cluster"
EXAMPLES = [NEW_PROJECT, EXISTING_CLUSTER]
MODULES = [MODULE, PROJECT_MODULE] + SUBMODULES
ALL_DIRS = MODULES + EXAMPLES
INVENTORY_TEMPLATE = MODULE / "templates" / "inventory.yml.tftpl"
FAKE_PROVIDER = Path(__file__).resolve().parent / "terraform" / "fake_provider.py"
PROTO = FAKE_PROVIDER.parent / "tfplugin6_subset.proto"

TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform binary not found on PATH (it is not in Debian)")

# The providers, the versions the examples pin, and the version the fake
# provider is installed as (inside those constraints).
PROVIDERS = {
    "selectel": ("selectel/selectel", "~> 7.0", "7.0.0"),
    "openstack": ("terraform-provider-openstack/openstack", "~> 3.0", "3.0.0"),
}

# Arguments of a module block that are not the module's input variables.
MODULE_META_ARGUMENTS = {"source", "version", "providers", "depends_on", "count", "for_each"}

# --- A minimal HCL scanner --------------------------------------------------------


def mask(text):
    """Return text, same length, with comments blanked and literal contents neutralised.

    Comments become spaces (newlines kept). Inside string literals and heredoc bodies,
    the characters that could be mistaken for structure ({ } [ ] ( ) " # / * \\ =) become
    spaces too; the outer quotes of a string stay. Identifiers inside interpolations stay
    readable ("${var.x}-a" becomes "$ var.x -a"), so references can still be searched for.
    Offsets are preserved: a match in the masked text slices the original.
    """
    out = list(text)
    n = len(text)
    structural = set('{}[]()"#/*\\=')

    def neutralise(i):
        if out[i] in structural:
            out[i] = " "

    def blank(i):
        if text[i] != "\n":
            out[i] = " "

    def scan_template(i, closing):
        """Scan a string body (closing='"') or an interpolation (closing='}') from i."""
        depth = 0
        while i < n:
            c = text[i]
            if closing == '"':
                if c == "\\" and i + 1 < n:
                    neutralise(i)
                    neutralise(i + 1)
                    i += 2
                    continue
                if c == '"':
                    return i  # the closing quote, kept
                if c in "$%" and text.startswith("{", i + 1):
                    if i >= 1 and text[i - 1] == c:
                        # $${ and %%{ are escapes, not interpolations
                        neutralise(i + 1)
                        i += 2
                        continue
                    neutralise(i + 1)
                    i = scan_template(i + 2, "}")
                    neutralise(i)
                    i += 1
                    continue
                neutralise(i)
                i += 1
            else:  # inside an interpolation: an expression, with nested strings
                if c == '"':
                    neutralise(i)
                    i = scan_template(i + 1, '"')
                    neutralise(i)
                    i += 1
                    continue
                if c == "{":
                    depth += 1
                elif c == "}":
                    if depth == 0:
                        return i
                    depth -= 1
                neutralise(i)
                i += 1
        return n - 1

    i = 0
    while i < n:
        c = text[i]
        if c == "#" or text.startswith("//", i):
            while i < n and text[i] != "\n":
                blank(i)
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            for j in range(i, end):
                blank(j)
            i = end
        elif c == '"':
            i = scan_template(i + 1, '"') + 1
        elif text.startswith("<<", i):
            m = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\n").match(text, i)
            if not m:
                i += 2
                continue
            end_re = re.compile(r"^[ \t]*%s[ \t]*$" % re.escape(m.group(1)), re.M)
            end = end_re.search(text, m.end())
            stop = end.start() if end else n
            for j in range(m.end(), stop):
                neutralise(j)
            i = end.end() if end else n
        else:
            i += 1
    return "".join(out)


class Block:
    def __init__(self, kind, labels, body, masked_body):
        self.kind = kind
        self.labels = labels
        self.body = body  # original text between the braces
        self.masked = masked_body  # the same, masked

    def attributes(self):
        """Top-level `name = expression` pairs of the body, expressions as original text."""
        return _attributes(self.body, self.masked)

    def blocks(self, kind):
        return find_blocks(self.body, kind, self.masked)


def _matching_brace(masked, open_index):
    depth = 0
    for i in range(open_index, len(masked)):
        if masked[i] == "{":
            depth += 1
        elif masked[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise AssertionError("unbalanced braces after offset %d" % open_index)


def _depth0_positions(masked):
    """Yield (index, char) for characters at bracket depth 0 of a masked body."""
    depth = 0
    for i, c in enumerate(masked):
        if c in "{[(":
            if depth == 0:
                yield i, c
            depth += 1
        elif c in "}])":
            depth -= 1
        elif depth == 0:
            yield i, c


def find_blocks(text, kind, masked=None):
    """Top-level blocks `kind "label" ... {` of text, in order."""
    masked = mask(text) if masked is None else masked
    top = [" "] * len(masked)
    for i, c in _depth0_positions(masked):
        top[i] = c
    top = "".join(top)
    pattern = re.compile(r'^[ \t]*%s((?:[ \t]+"[^"\n]*")*)[ \t]*\{' % re.escape(kind), re.M)
    found = []
    for m in pattern.finditer(top):
        open_index = m.end() - 1
        close_index = _matching_brace(masked, open_index)
        label_text = text[m.start(1):m.end(1)]
        labels = re.findall(r'"([^"\n]*)"', label_text)
        found.append(Block(kind, labels, text[open_index + 1:close_index], masked[open_index + 1:close_index]))
    return found


def _attributes(body, masked):
    attrs = {}
    depth = 0
    i = 0
    n = len(masked)
    line_start = True
    while i < n:
        c = masked[i]
        if c in "{[(":
            depth += 1
        elif c in "}])":
            depth -= 1
        elif c == "\n":
            line_start = True
            i += 1
            continue
        if depth == 0 and line_start and not c.isspace():
            line_start = False
            m = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)[ \t]*=(?!=)").match(masked, i)
            if m:
                # the expression runs to the end of the line at depth 0,
                # or of the heredoc's closing marker
                j = m.end()
                heredoc = re.compile(r"[ \t]*<<-?([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\n").match(masked, j)
                if heredoc:
                    close = re.compile(r"^[ \t]*%s[ \t]*$" % re.escape(heredoc.group(1)), re.M)
                    end = close.search(masked, heredoc.end())
                    j = end.end() if end else n
                d = 0
                while j < n and not (masked[j] == "\n" and d == 0):
                    if masked[j] in "{[(":
                        d += 1
                    elif masked[j] in "}])":
                        d -= 1
                    j += 1
                attrs[m.group(1)] = body[m.end():j].strip()
                i = j
                continue
        elif not c.isspace():
            line_start = False
        i += 1
    return attrs


def string_value(expression):
    """The value of a string literal or heredoc without interpolations, or None."""
    expression = expression.strip()
    heredoc = re.fullmatch(r"<<(-?)([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\n(.*?)^[ \t]*\2[ \t]*", expression, re.S | re.M)
    if heredoc:
        body = heredoc.group(3)
        if heredoc.group(1):  # <<- strips the common indentation
            body = textwrap.dedent(body)
    else:
        m = re.fullmatch(r'"((?:[^"\\]|\\.)*)"', expression, re.S)
        if not m:
            return None
        body = m.group(1)
    if re.search(r"(?<!\$)\$\{|(?<!%)%\{", body):
        return None  # a template, not a constant
    body = body.replace("$${", "${").replace("%%{", "%{")
    return body if heredoc else json.loads('"%s"' % body)


def tf_files(directory):
    return sorted(directory.glob("*.tf"))


def read_dir(directory, exclude=()):
    """Masked text of a module directory's .tf files (comments removed)."""
    return "\n".join(mask(p.read_text()) for p in tf_files(directory) if p.name not in exclude)


def variables(directory):
    path = directory / "variables.tf"
    if not path.exists():
        return {}
    return {b.labels[0]: b for b in find_blocks(path.read_text(), "variable")}


def outputs(directory):
    path = directory / "outputs.tf"
    if not path.exists():
        return {}
    return {b.labels[0]: b for b in find_blocks(path.read_text(), "output")}



def module_calls(directory):
    """{name: (block, module directory)} for every module block of a directory."""
    calls = {}
    for path in tf_files(directory):
        for block in find_blocks(path.read_text(), "module"):
            source = string_value(block.attributes().get("source", ""))
            assert source and source.startswith(("./", "../")), \
                "module %s: expected a local source, got %r" % (block.labels[0], source)
            calls[block.labels[0]] = (block, (directory / source).resolve())
    return calls


def ident(directory):
    return str(directory.relative_to(TF_DIR))


# --- Running terraform against the fake providers ------------------------------------


def terraform(args, cwd, timeout=120, stdin=None, env=None):
    full_env = dict(os.environ)
    full_env.update({"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"})
    full_env.update(env or {})
    return subprocess.run(
        [TERRAFORM] + args, cwd=cwd, env=full_env, input=stdin, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
    )


@pytest.fixture(scope="module")
def fake_providers(tmp_path_factory):
    """Environment for terraform that installs and runs the fake providers, offline.

    A filesystem_mirror (unpacked layout) holds one executable per provider, a
    wrapper that starts fake_provider.py; TF_CLI_CONFIG_FILE makes it the only
    installation source. TF_DISABLE_PLUGIN_TLS=1: the fake speaks plaintext gRPC
    instead of go-plugin's automatic mutual TLS.
    """
    if TERRAFORM is None:
        pytest.skip("terraform binary not found on PATH (it is not in Debian)")
    base = tmp_path_factory.mktemp("fake-providers")
    gen = base / "gen"
    gen.mkdir()
    proc = subprocess.run(["protoc", "-I", str(PROTO.parent), "--python_out", str(gen), PROTO.name],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 0, "protoc (protobuf-compiler, make deps) failed:\n" + proc.stdout
    mirror = base / "mirror"
    for name, (source, _, version) in PROVIDERS.items():
        directory = mirror / "registry.terraform.io" / source / version / "linux_amd64"
        directory.mkdir(parents=True)
        wrapper = directory / ("terraform-provider-%s_v%s" % (name, version))
        wrapper.write_text('#!/bin/sh\nexec /usr/bin/python3 %s %s %s\n' % (FAKE_PROVIDER, name, gen))
        wrapper.chmod(0o755)
    config = base / "cli.tfrc"
    config.write_text('provider_installation {\n  filesystem_mirror {\n    path    = "%s"\n'
                      '    include = ["registry.terraform.io/*/*"]\n  }\n}\n' % mirror)
    return {"TF_CLI_CONFIG_FILE": str(config), "TF_DISABLE_PLUGIN_TLS": "1"}


def initialised(tmp_path, directory, env):
    """A copy of terraform/ (the examples reach ../../modules), initialised in directory's copy."""
    copy = tmp_path / "terraform"
    shutil.copytree(TF_DIR, copy, ignore=shutil.ignore_patterns(
        ".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfvars", "*.tfvars.json"))
    workdir = copy / directory.relative_to(TF_DIR)
    proc = terraform(["init", "-backend=false", "-input=false", "-no-color"], workdir, env=env)
    assert proc.returncode == 0, "terraform init (offline, fake providers):\n" + proc.stdout + proc.stderr
    return workdir


# --- 1. Formatting ---------------------------------------------------------------


@needs_terraform
def test_fmt_is_clean():
    proc = terraform(["fmt", "-check", "-recursive", "-diff", "-no-color", str(TF_DIR)], REPO)
    assert proc.returncode == 0, "terraform fmt would change:\n" + proc.stdout + proc.stderr


@needs_terraform
@pytest.mark.parametrize("example", EXAMPLES, ids=ident)
def test_tfvars_example_is_formatted(example):
    # fmt -recursive skips *.example; format it through stdin and compare.
    text = (example / "terraform.tfvars.example").read_text()
    proc = terraform(["fmt", "-no-color", "-"], REPO, stdin=text)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == text, "%s/terraform.tfvars.example is not in terraform fmt style" % ident(example)


# --- 2. terraform validate and terraform test, against the providers' schemas -----


@pytest.mark.parametrize("directory", [MODULE, PROJECT_MODULE] + EXAMPLES, ids=ident)
def test_validate(tmp_path, fake_providers, directory):
    workdir = initialised(tmp_path, directory, fake_providers)
    proc = terraform(["validate", "-no-color"], workdir, env=fake_providers)
    assert proc.returncode == 0, "terraform validate:\n" + proc.stdout + proc.stderr
    assert "The configuration is valid" in proc.stdout, proc.stdout


def test_validate_checks_the_schema(tmp_path, fake_providers):
    """The schema is really checked: an argument openstack_compute_flavor_v2 lacks fails validate."""
    workdir = initialised(tmp_path, MODULE, fake_providers)
    runners = workdir / "modules" / "runners" / "main.tf"
    text = runners.read_text()
    assert "  is_public = false\n" in text
    runners.write_text(text.replace("  is_public = false\n", "  is_public = false\n  no_such_argument = 1\n", 1))
    proc = terraform(["validate", "-no-color"], workdir, env=fake_providers)
    assert proc.returncode != 0, proc.stdout
    assert "Unsupported argument" in proc.stdout + proc.stderr and "no_such_argument" in proc.stdout + proc.stderr


def run_blocks(directory):
    return sum(len([b for b in find_blocks(p.read_text(), "run")]) for p in (directory / "tests").glob("*.tftest.hcl"))


@pytest.mark.parametrize("directory", [MODULE] + EXAMPLES, ids=ident)
def test_terraform_test(tmp_path, fake_providers, directory):
    """terraform test with mocked providers: planned runners, the network used, the inventory."""
    expected = run_blocks(directory)
    assert expected, "%s has no tests/*.tftest.hcl run blocks" % ident(directory)
    workdir = initialised(tmp_path, directory, fake_providers)
    proc = terraform(["test", "-no-color"], workdir, env=fake_providers, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, "terraform test:\n" + output
    assert "Success! %d passed, 0 failed." % expected in output, output
    # The tests' passwords are canaries: Terraform must keep them out of its output.
    for canary in ("Canary-Selectel-1", "Canary-Project-2"):
        assert canary not in output, "a password reached terraform test's output"


@pytest.mark.parametrize("example", EXAMPLES, ids=ident)
def test_examples_install_the_intended_providers_and_modules(tmp_path, fake_providers, example):
    """init installs exactly the intended provider sources (a module that used
    openstack without naming its source would pull hashicorp/openstack) and
    the module tree."""
    workdir = initialised(tmp_path, example, fake_providers)
    lock = (workdir / ".terraform.lock.hcl").read_text()
    found = set(re.findall(r'^provider "registry\.terraform\.io/([^"]+)"', lock, re.M))
    expected = {PROVIDERS["openstack"][0]} | ({PROVIDERS["selectel"][0]} if example == NEW_PROJECT else set())
    assert found == expected, lock
    modules = json.loads((workdir / ".terraform" / "modules" / "modules.json").read_text())["Modules"]
    keys = {m["Key"] for m in modules}
    assert {"berth_runners", "berth_runners.bastion", "berth_runners.runners", "berth_runners.network"} <= keys, keys


# --- 3. The module's shape: callable with source =, current provider majors ------


def required_providers(directory):
    [terraform_block] = find_blocks((directory / "versions.tf").read_text(), "terraform")
    [required] = terraform_block.blocks("required_providers")
    return terraform_block, required.attributes()


@pytest.mark.parametrize("directory, names", [
    (MODULE, ["openstack"]), (PROJECT_MODULE, ["selectel"]),
    (NEW_PROJECT, ["selectel", "openstack"]), (EXISTING_CLUSTER, ["openstack"]),
], ids=lambda v: ident(v) if isinstance(v, Path) else None)
def test_versions_are_pinned(directory, names):
    terraform_block, attrs = required_providers(directory)
    assert string_value(terraform_block.attributes()["required_version"]), "required_version is not set"
    assert sorted(attrs) == sorted(names), "%s requires %s" % (ident(directory), sorted(attrs))
    for name in names:
        source, version, _ = PROVIDERS[name]
        assert re.search(r'source\s*=\s*"%s"' % re.escape(source), attrs[name]), attrs[name]
        assert re.search(r'version\s*=\s*"%s"' % re.escape(version), attrs[name]), attrs[name]


@pytest.mark.parametrize("directory", SUBMODULES, ids=ident)
def test_submodules_name_the_source_only(directory):
    _, attrs = required_providers(directory)
    assert list(attrs) == ["openstack"], attrs
    assert "version" not in attrs["openstack"], "the version range is berth-runners' own"


@pytest.mark.parametrize("directory", MODULES, ids=ident)
def test_modules_have_no_provider_blocks(directory):
    # A module with provider blocks cannot be called with count, for_each or
    # depends_on, and ties its caller to its credentials.
    for path in tf_files(directory):
        assert not find_blocks(path.read_text(), "provider"), "%s has a provider block" % path.relative_to(TF_DIR)


def test_examples_call_the_module_by_source():
    for example in EXAMPLES:
        block, path = module_calls(example)["berth_runners"]
        assert string_value(block.attributes()["source"]) == "../../modules/berth-runners"
        assert path == MODULE


# --- 4. One apply: the providers need nothing the apply creates ------------------


def provider_blocks(example):
    return {b.labels[0]: b for p in tf_files(example) for b in find_blocks(p.read_text(), "provider")}


@pytest.mark.parametrize("example", EXAMPLES, ids=ident)
def test_provider_configuration_is_known_before_apply(example):
    """Provider arguments are literals or variables: none reads a resource, data source or module."""
    blocks = provider_blocks(example)
    assert "openstack" in blocks
    for name, block in blocks.items():
        for argument, expression in block.attributes().items():
            if string_value(expression) is not None or expression in ("true", "false"):
                continue  # a constant
            references = re.findall(r"\b([a-z_][a-z0-9_]*)\.[a-z_]", mask(expression))
            assert set(references) <= {"var"}, \
                "%s: provider %s argument %s = %s depends on %s" % (ident(example), name, argument, expression, references)


def test_new_project_waits_for_the_project():
    """The openstack side of new-project must not talk to the cloud before the project and user exist."""
    openstack = provider_blocks(NEW_PROJECT)["openstack"].attributes()
    # scoped by the name it is created with, not by the ID it gets
    assert openstack.get("tenant_name") == "var.project_name" and "tenant_id" not in openstack, openstack
    assert openstack.get("user_name") == "var.project_user_name", openstack
    assert openstack.get("delayed_auth") == "true", openstack
    project = module_calls(NEW_PROJECT)["project"][0].attributes()
    assert project.get("project_name") == "var.project_name" and project.get("user_name") == "var.project_user_name"
    runners = module_calls(NEW_PROJECT)["berth_runners"][0].attributes()
    assert re.fullmatch(r"\[\s*module\.project\s*\]", runners.get("depends_on", "")), runners


def test_existing_cluster_uses_its_network_and_project():
    openstack = provider_blocks(EXISTING_CLUSTER)["openstack"].attributes()
    assert openstack.get("tenant_id") == "var.project_id", openstack
    existing = module_calls(EXISTING_CLUSTER)["berth_runners"][0].attributes()["existing_network"]
    assert re.search(r"network_id\s*=\s*var\.network_id", existing) and re.search(r"subnet_id\s*=\s*var\.subnet_id", existing)


# --- 5. State on Selectel's S3 ----------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=ident)
def test_state_backend_is_selectel_s3(example):
    [terraform_block] = find_blocks((example / "versions.tf").read_text(), "terraform")
    [backend] = terraform_block.blocks("backend")
    assert backend.labels == ["s3"]
    attrs = backend.attributes()
    assert re.search(r's3\s*=\s*"https://s3\.ru-1\.storage\.selcloud\.ru"', attrs.get("endpoints", "")), attrs
    for flag in ("skip_credentials_validation", "skip_requesting_account_id", "skip_metadata_api_check",
                 "skip_region_validation", "skip_s3_checksum", "use_path_style"):
        assert attrs.get(flag) == "true", "%s: backend s3 needs %s = true for Selectel's S3" % (ident(example), flag)
    assert string_value(attrs.get("key", "")), attrs
    # credentials and the bucket come at init time, never from the file
    for secret in ("access_key", "secret_key", "bucket"):
        assert secret not in attrs, "%s: backend sets %s in the file" % (ident(example), secret)


# --- 6. Variables: declared with a type and description, used, documented ---------


@pytest.mark.parametrize("directory", ALL_DIRS, ids=ident)
def test_variables_have_type_and_description(directory):
    declared = variables(directory)
    assert declared, "%s declares no variables" % ident(directory)
    for name, block in declared.items():
        attrs = block.attributes()
        assert "type" in attrs, "variable %s (%s) has no type" % (name, ident(directory))
        description = string_value(attrs.get("description", ""))
        assert description and description.strip(), "variable %s (%s) has no description" % (name, ident(directory))


@pytest.mark.parametrize("directory", ALL_DIRS, ids=ident)
def test_variables_are_used(directory):
    # var.NAME in the directory's other .tf files; passing a variable to a
    # module is such a use. References inside variables.tf (a validation
    # reading another variable) do not count.
    code = read_dir(directory, exclude={"variables.tf"})
    unused = [name for name in variables(directory)
              if not re.search(r"\bvar\.%s\b" % re.escape(name), code)]
    assert not unused, "%s: variables declared but never used: %s" % (ident(directory), unused)


@pytest.mark.parametrize("directory", ALL_DIRS, ids=ident)
def test_secrets_are_sensitive(directory):
    for name, block in variables(directory).items():
        if re.search(r"password|secret|token|private_key", name):
            assert block.attributes().get("sensitive") == "true", \
                "variable %s (%s) holds a secret: mark it sensitive = true" % (name, ident(directory))


def test_module_variables_are_in_readme():
    readme = README.read_text()
    missing = [name for name in variables(MODULE) if not re.search(r"^\| `%s` \|" % re.escape(name), readme, re.M)]
    assert not missing, "berth-runners inputs missing from the table in terraform/README.md: %s" % missing


def test_module_outputs_are_in_readme():
    readme = README.read_text()
    missing = [name for name in outputs(MODULE) if not re.search(r"^\| `%s` \|" % re.escape(name), readme, re.M)]
    assert not missing, "berth-runners outputs missing from the table in terraform/README.md: %s" % missing


@pytest.mark.parametrize("example", EXAMPLES, ids=ident)
def test_example_variables_are_in_tfvars_example(example):
    text = (example / "terraform.tfvars.example").read_text()
    assigned = set(_attributes(text, mask(text)))  # top-level assignments; comments do not count
    missing = [name for name in variables(example) if name not in assigned]
    assert not missing, "variables missing from %s/terraform.tfvars.example: %s" % (ident(example), missing)
    unknown = sorted(assigned - set(variables(example)))
    assert not unknown, "%s/terraform.tfvars.example sets undeclared variables: %s" % (ident(example), unknown)


# --- 7. Module wiring ------------------------------------------------------------

CALLERS = [d for d in ALL_DIRS if module_calls(d)]
CALLS = [(d, name) for d in CALLERS for name in sorted(module_calls(d))]


def test_module_has_its_parts():
    calls = module_calls(MODULE)
    assert set(calls) == {"network", "bastion", "runners"}, sorted(calls)
    for name, (_, path) in calls.items():
        assert path.is_dir() and tf_files(path), "module %s: no .tf files in %s" % (name, path)


@pytest.mark.parametrize("directory, name", CALLS, ids=lambda v: ident(v) if isinstance(v, Path) else v)
def test_module_inputs_match_variables(directory, name):
    block, path = module_calls(directory)[name]
    passed = set(block.attributes()) - MODULE_META_ARGUMENTS
    declared = variables(path)
    undeclared = sorted(passed - set(declared))
    assert not undeclared, "module %s is passed undeclared inputs: %s" % (name, undeclared)
    required = {n for n, b in declared.items() if "default" not in b.attributes()}
    missing = sorted(required - passed)
    assert not missing, "module %s is not passed required inputs: %s" % (name, missing)


@pytest.mark.parametrize("directory", CALLERS, ids=ident)
def test_module_outputs_referenced_exist(directory):
    calls = module_calls(directory)
    code = read_dir(directory)
    references = set(re.findall(r"\bmodule\.([A-Za-z_][A-Za-z0-9_-]*)(?:\[\d+\])?\.([A-Za-z_][A-Za-z0-9_-]*)", code))
    assert references, "%s references no module outputs" % ident(directory)
    for module, output in sorted(references):
        assert module in calls, "module.%s.%s: no module %s" % (module, output, module)
        assert output in outputs(calls[module][1]), \
            "module.%s.%s: %s/outputs.tf has no output %s" % (module, output, calls[module][1].name, output)


@pytest.mark.parametrize("directory", ALL_DIRS, ids=ident)
def test_outputs_have_descriptions(directory):
    for name, block in outputs(directory).items():
        assert string_value(block.attributes().get("description", "")), \
            "output %s (%s) has no description" % (name, ident(directory))


# --- 8. The inventory template -----------------------------------------------------

SAMPLE = {
    "runners": [
        {"name": "berth-runner-1", "address": "10.20.0.11"},
        {"name": "berth-runner-2", "address": "10.20.0.12"},
    ],
    "ssh_user": "root",
    "ssh_common_args": "-o ProxyJump=root@203.0.113.10",
}

def to_hcl(value):
    if isinstance(value, dict):
        return "{ %s }" % ", ".join("%s = %s" % (k, to_hcl(v)) for k, v in value.items())
    if isinstance(value, list):
        return "[%s]" % ", ".join(to_hcl(v) for v in value)
    return json.dumps(value)  # the sample's strings have no ${ or %{


def test_inventory_template_call_matches_sample():
    """The sample passes exactly the variables that the module's outputs.tf passes to the template."""
    [output] = [b for b in find_blocks((MODULE / "outputs.tf").read_text(), "output")
                if b.labels == ["ansible_inventory"]]
    value = output.attributes()["value"]
    assert "templates/inventory.yml.tftpl" in value, value
    # the object literal: the first and last braces outside strings
    masked = mask(value)
    start, end = masked.index("{"), masked.rindex("}")
    keys = set(_attributes(value[start + 1:end], masked[start + 1:end]))
    assert keys == set(SAMPLE), "outputs.tf passes %s to the template, the test renders %s" % (sorted(keys), sorted(SAMPLE))


@pytest.fixture(scope="module")
def rendered_inventory(tmp_path_factory):
    """The template rendered with SAMPLE by Terraform's own templatefile().

    `terraform console` in a directory holding only the template: pure functions
    need no providers and no init, so this works offline.
    """
    if TERRAFORM is None:
        pytest.skip("terraform binary not found on PATH: cannot render the template")
    workdir = tmp_path_factory.mktemp("inventory")
    shutil.copy(INVENTORY_TEMPLATE, workdir / "inventory.yml.tftpl")
    expression = 'templatefile("inventory.yml.tftpl", %s)\n' % to_hcl(SAMPLE)
    proc = terraform(["console"], workdir, stdin=expression, env={"TF_DATA_DIR": str(workdir / "tfdata")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # A multi-line string prints as a heredoc whose body is the string verbatim.
    lines = proc.stdout.strip("\n").split("\n")
    assert lines[0] == "<<EOT" and lines[-1] == "EOT", "unexpected console output:\n" + proc.stdout
    path = workdir / "terraform.yml"
    path.write_text("\n".join(lines[1:-1]).rstrip("\n") + "\n")
    return path


def test_inventory_is_valid_yaml(rendered_inventory):
    yaml = pytest.importorskip("yaml", reason="python3-yaml is not installed: cannot parse the rendered inventory")
    text = rendered_inventory.read_text()
    inventory = yaml.safe_load(text)
    group = inventory["all"]["children"]["berth_runners"]
    assert group["hosts"] == {r["name"]: {"ansible_host": r["address"]} for r in SAMPLE["runners"]}, text
    assert group["vars"]["ansible_user"] == "root", text
    assert group["vars"]["ansible_ssh_common_args"] == "-o ProxyJump=root@203.0.113.10", text


def test_inventory_passes_yamllint(rendered_inventory):
    # It is written into ../ansible/inventory/, which ansible's tests lint strictly.
    yamllint = shutil.which("yamllint")
    if yamllint is None:
        pytest.skip("yamllint is not installed")
    config = REPO / "ansible" / ".yamllint"
    args = [yamllint, "-s"] + (["-c", str(config)] if config.exists() else []) + [str(rendered_inventory)]
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout


def test_inventory_as_ansible_reads_it(rendered_inventory, tmp_path):
    ansible_inventory = shutil.which("ansible-inventory")
    if ansible_inventory is None:
        pytest.skip("ansible-inventory is not installed")
    env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(tmp_path), ANSIBLE_HOME=str(tmp_path),
               ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
    proc = subprocess.run([ansible_inventory, "-i", str(rendered_inventory), "--list"], env=env, cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listing = json.loads(proc.stdout)
    assert sorted(listing["berth_runners"]["hosts"]) == [r["name"] for r in SAMPLE["runners"]]
    for runner in SAMPLE["runners"]:
        hostvars = listing["_meta"]["hostvars"][runner["name"]]
        assert hostvars["ansible_host"] == runner["address"]
        assert hostvars["ansible_ssh_common_args"] == "-o ProxyJump=root@203.0.113.10"


# --- 9. Security groups ------------------------------------------------------------


def resources(directory, kind):
    found = []
    for path in tf_files(directory):
        found += [b for b in find_blocks(path.read_text(), "resource") if b.labels[0] == kind]
    return found


def ingress_rules(directory):
    rules = resources(directory, "openstack_networking_secgroup_rule_v2")
    return [r for r in rules if string_value(r.attributes().get("direction", "")) == "ingress"]


def test_bastion_ssh_only_from_allowed_cidrs():
    rules = ingress_rules(MODULE / "modules" / "bastion")
    assert rules, "the bastion module has no ingress rule"
    for rule in rules:
        attrs = rule.attributes()
        assert attrs.get("port_range_min") == "22" and attrs.get("port_range_max") == "22", \
            "bastion ingress rule %s is not SSH-only" % rule.labels[1]
        assert "0.0.0.0/0" not in rule.body and "::/0" not in rule.body, rule.body
        # one rule per allowed CIDR
        assert re.fullmatch(r"toset\(var\.allowed_cidrs\)", attrs.get("for_each", "")), attrs
        assert attrs.get("remote_ip_prefix") == "each.value", attrs
    # ... and berth-runners passes the operator's list, which has no default
    # there nor in the examples.
    bastion_call = module_calls(MODULE)["bastion"][0].attributes()
    assert bastion_call.get("allowed_cidrs") == "var.bastion_allowed_cidrs", bastion_call
    for directory in [MODULE] + EXAMPLES:
        assert "default" not in variables(directory)["bastion_allowed_cidrs"].attributes(), ident(directory)


def test_runners_ssh_only_from_bastion():
    rules = ingress_rules(MODULE / "modules" / "runners")
    assert rules, "the runners module has no ingress rule"
    for rule in rules:
        attrs = rule.attributes()
        assert attrs.get("port_range_min") == "22" and attrs.get("port_range_max") == "22", \
            "runner ingress rule %s is not SSH-only" % rule.labels[1]
        # the bastion's security group (or, in another design, its private address)
        from_group = attrs.get("remote_group_id") == "var.bastion_security_group_id"
        from_address = re.fullmatch(r'"\$\{var\.bastion_\w*address\}/32"', attrs.get("remote_ip_prefix", ""))
        assert from_group or from_address, "runner SSH rule %s is not limited to the bastion: %s" % (rule.labels[1], attrs)
        assert not (from_group and "remote_ip_prefix" in attrs), "rule %s also sets remote_ip_prefix" % rule.labels[1]
    runners_call = module_calls(MODULE)["runners"][0].attributes()
    assert runners_call.get("bastion_security_group_id") == "module.bastion.security_group_id", runners_call


def test_runner_ports_use_only_the_runner_group():
    [port] = resources(MODULE / "modules" / "runners", "openstack_networking_port_v2")
    assert port.attributes().get("security_group_ids") == "[openstack_networking_secgroup_v2.runners.id]"


def test_runners_have_no_floating_ip():
    code = read_dir(MODULE / "modules" / "runners")
    for kind in ("openstack_networking_floatingip_v2", "openstack_networking_floatingip_associate_v2",
                 "openstack_compute_floatingip_v2", "openstack_compute_floatingip_associate_v2"):
        assert kind not in code, "the runners module uses %s" % kind
    assert not re.search(r"\bfloating", code), "the runners module mentions a floating IP"
    # nor does berth-runners attach one to anything: the bastion's is in its module
    assert "floatingip" not in read_dir(MODULE), "berth-runners creates a floating IP"


# --- 10. The variables' validation rules, evaluated by terraform offline -------------

# Values for the module's variables without a default.
MODULE_TFVARS = """bastion_allowed_cidrs = ["203.0.113.0/24"]
ssh_public_key        = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderPlaceholderPlaceholder0000 admin@example"
"""


def plan_variables(tmp_path, directory, extra_args):
    """terraform plan of a configuration made of directory's variables.tf alone: runs every validation.

    For an example, with its terraform.tfvars.example; for the module, with MODULE_TFVARS.
    """
    workdir = tmp_path / "vars"
    workdir.mkdir(exist_ok=True)
    shutil.copy(directory / "variables.tf", workdir)
    tfvars = directory / "terraform.tfvars.example"
    (workdir / "example.tfvars").write_text(tfvars.read_text() if tfvars.exists() else MODULE_TFVARS)
    env = {"TF_DATA_DIR": str(tmp_path / "tfdata"), "TF_CLI_CONFIG_FILE": str(workdir / "none.tfrc")}
    (workdir / "none.tfrc").write_text("")
    if not (tmp_path / "tfdata").exists():
        init = terraform(["init", "-backend=false", "-input=false", "-no-color"], workdir, env=env)
        assert init.returncode == 0, init.stdout + init.stderr
    return terraform(["plan", "-input=false", "-refresh=false", "-lock=false", "-no-color",
                      "-var-file=example.tfvars"] + extra_args, workdir, env=env)


@needs_terraform
@pytest.mark.parametrize("directory", [MODULE] + EXAMPLES, ids=ident)
def test_example_values_pass_validation(tmp_path, directory):
    proc = plan_variables(tmp_path, directory, [])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_terraform
@pytest.mark.parametrize("directory, args, message", [
    (MODULE, ["-var", 'bastion_allowed_cidrs=["0.0.0.0/0"]'], "whole internet"),
    (MODULE, ["-var", "bastion_allowed_cidrs=[]"], "at least one CIDR"),
    (MODULE, ["-var", 'bastion_allowed_cidrs=["203.0.113.7"]'], "IPv4 CIDR"),
    (MODULE, ["-var", 'bastion_allowed_cidrs=["203.0.113.7/24"]'], "network address"),
    (MODULE, ["-var", "private_network_cidr=10.20.0.0"], "private_network_cidr"),
    (MODULE, ["-var", "private_network_cidr=10.0.0.0/8"], "/16 and /28"),
    (MODULE, ["-var", "availability_zone=ru9"], "zone name"),
    (MODULE, ["-var", "disk_type=fast.ru-9a"], "without the zone"),
    (MODULE, ["-var", "runners_count=0"], "whole number, at least 1"),
    (MODULE, ["-var", "ssh_public_key=~/.ssh/id_ed25519.pub"], "OpenSSH format"),
    (NEW_PROJECT, ["-var", "availability_zone=ru-3a"], "zone of the chosen region"),
    (NEW_PROJECT, ["-var", "project_user_password=short"], "at least 8 characters"),
    (NEW_PROJECT, ["-var", "selectel_account_id=my-account"], "account's number"),
    (EXISTING_CLUSTER, ["-var", "availability_zone=ru-3a"], "zone of the chosen region"),
], ids=lambda v: ident(v) if isinstance(v, Path) else (v if isinstance(v, str) else None))
def test_bad_values_are_refused(tmp_path, directory, args, message):
    proc = plan_variables(tmp_path, directory, args)
    output = re.sub(r"\s+", " ", proc.stdout + proc.stderr)
    assert proc.returncode != 0, "accepted %s" % args
    assert message in output, output
