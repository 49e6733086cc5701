"""Checks of terraform/ (the Selectel runner VMs) that need no cloud account.

Run with: /usr/bin/python3 -m pytest tests/infra/test_terraform.py

Only the standard library and pytest. The terraform binary is used where it
is on PATH: formatting, offline loading of the configuration, the variables'
validation rules, and rendering of the inventory template. `terraform
validate` needs the providers; where they cannot be installed (no network and
no mirror) that one test skips, saying so.

There is no HCL library here, so HCL is read with the small scanner below: it
blanks out comments and neutralises the braces and quotes inside string
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
MODULES_DIR = TF_DIR / "modules"
README = TF_DIR / "README.md"
TFVARS_EXAMPLE = TF_DIR / "terraform.tfvars.example"
INVENTORY_TEMPLATE = TF_DIR / "templates" / "inventory.yml.tftpl"

TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform binary not found on PATH")

MODULE_DIRS = sorted(p for p in MODULES_DIR.iterdir() if p.is_dir()) if MODULES_DIR.is_dir() else []
ALL_DIRS = [TF_DIR] + MODULE_DIRS

# Arguments of a module block that are not the module's input variables.
MODULE_META_ARGUMENTS = {"source", "version", "providers", "depends_on", "count", "for_each"}

# What `terraform init` prints when it cannot reach the registry.
OFFLINE_MARKERS = (
    "could not connect to",
    "failed to request discovery document",
    "no such host",
    "dial tcp",
    "i/o timeout",
    "connection refused",
    "network is unreachable",
    "temporary failure in name resolution",
    "failed to query available provider packages",
    "could not retrieve the list of available versions",
)


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


def module_calls(directory=TF_DIR):
    """{name: (block, module directory)} for every module block of a directory."""
    calls = {}
    for path in tf_files(directory):
        for block in find_blocks(path.read_text(), "module"):
            source = string_value(block.attributes().get("source", ""))
            assert source and source.startswith("./"), "module %s: expected a local source, got %r" % (block.labels[0], source)
            calls[block.labels[0]] = (block, (directory / source).resolve())
    return calls


def ident(directory):
    return "root" if directory == TF_DIR else "modules/" + directory.name


# --- Running terraform -----------------------------------------------------------


def terraform(args, cwd, timeout=60, stdin=None, data_dir=None):
    env = dict(os.environ)
    env.update({"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"})
    if data_dir is not None:
        env["TF_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [TERRAFORM] + args, cwd=cwd, env=env, input=stdin, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
    )


def copy_config(tmp_path):
    """A copy of terraform/ without local state, .terraform or tfvars."""
    dest = tmp_path / "terraform"
    shutil.copytree(TF_DIR, dest, ignore=shutil.ignore_patterns(
        ".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfvars", "*.tfvars.json"))
    return dest


def init_offline_aware(workdir, tmp_path):
    """terraform init -backend=false: the completed process, whatever its exit code (skips on a timeout)."""
    try:
        return terraform(["init", "-backend=false", "-input=false", "-no-color"], workdir,
                         timeout=90, data_dir=tmp_path / "tfdata")
    except subprocess.TimeoutExpired:
        pytest.skip("terraform init timed out after 90 s: the provider registry is unreachable "
                    "(no network here), so the providers cannot be installed")


# --- 1. Formatting ---------------------------------------------------------------


@needs_terraform
def test_fmt_is_clean():
    proc = terraform(["fmt", "-check", "-recursive", "-diff", "-no-color", str(TF_DIR)], REPO)
    assert proc.returncode == 0, "terraform fmt would change:\n" + proc.stdout + proc.stderr


@needs_terraform
def test_tfvars_example_is_formatted():
    # fmt -recursive skips *.example; format it through stdin and compare.
    text = TFVARS_EXAMPLE.read_text()
    proc = terraform(["fmt", "-no-color", "-"], REPO, stdin=text)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == text, "terraform.tfvars.example is not in terraform fmt style"


# --- 2. terraform validate, and what can be checked without the providers ---------


@needs_terraform
def test_validate(tmp_path):
    workdir = copy_config(tmp_path)
    init = init_offline_aware(workdir, tmp_path)
    if init.returncode != 0:
        output = (init.stdout + init.stderr).lower()
        if any(marker in output for marker in OFFLINE_MARKERS):
            pytest.skip("terraform init cannot download the selectel and openstack providers "
                        "(no network to registry.terraform.io and no provider mirror), so "
                        "terraform validate cannot run here")
        pytest.fail("terraform init failed:\n" + init.stdout + init.stderr)
    proc = terraform(["validate", "-no-color"], workdir, data_dir=tmp_path / "tfdata")
    assert proc.returncode == 0, "terraform validate:\n" + proc.stdout + proc.stderr


@needs_terraform
def test_configuration_loads_and_providers_resolve(tmp_path):
    """Offline: terraform loads every module and maps each to the intended provider source.

    `terraform providers` reads the whole configuration (a syntax error or a bad
    module source fails it) without the providers being installed. A module that
    used openstack without naming its source would show up as hashicorp/openstack.
    """
    workdir = copy_config(tmp_path)
    init_offline_aware(workdir, tmp_path)  # installs the local modules, even when providers fail
    proc = terraform(["providers", "-no-color"], workdir, data_dir=tmp_path / "tfdata")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = set(re.findall(r"provider\[registry\.terraform\.io/([^\]]+)\]", proc.stdout))
    assert found == {"selectel/selectel", "terraform-provider-openstack/openstack"}, proc.stdout
    for module in ("project", "network", "bastion", "runners"):
        assert "module." + module in proc.stdout, proc.stdout


def test_versions_are_pinned():
    [terraform_block] = find_blocks((TF_DIR / "versions.tf").read_text(), "terraform")
    assert string_value(terraform_block.attributes()["required_version"]), "required_version is not set"
    [required] = terraform_block.blocks("required_providers")
    attrs = required.attributes()
    expected = {"selectel": ("selectel/selectel", "~> 6.0"),
                "openstack": ("terraform-provider-openstack/openstack", "~> 2.1")}
    for name, (source, version) in expected.items():
        assert name in attrs, "provider %s is not in required_providers" % name
        assert re.search(r'source\s*=\s*"%s"' % re.escape(source), attrs[name]), attrs[name]
        assert re.search(r'version\s*=\s*"%s"' % re.escape(version), attrs[name]), attrs[name]


# --- 3. Variables: declared with a type and description, used, documented ---------


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
    # var.NAME in the directory's other .tf files; for the root, passing a
    # variable to a module is such a use. References inside variables.tf (a
    # validation reading another variable) do not count.
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


def test_root_variables_are_in_readme():
    readme = README.read_text()
    missing = [name for name in variables(TF_DIR) if not re.search(r"^\| `%s` \|" % re.escape(name), readme, re.M)]
    assert not missing, "variables missing from the table in terraform/README.md: %s" % missing


def test_root_variables_are_in_tfvars_example():
    text = TFVARS_EXAMPLE.read_text()
    assigned = set(_attributes(text, mask(text)))  # top-level assignments; comments do not count
    missing = [name for name in variables(TF_DIR) if name not in assigned]
    assert not missing, "variables missing from terraform.tfvars.example: %s" % missing
    unknown = sorted(assigned - set(variables(TF_DIR)))
    assert not unknown, "terraform.tfvars.example sets undeclared variables: %s" % unknown


# --- 4. Module wiring ------------------------------------------------------------


def test_modules_exist():
    calls = module_calls()
    assert set(calls) >= {"project", "network", "bastion", "runners"}, sorted(calls)
    for name, (_, path) in calls.items():
        assert path.is_dir() and tf_files(path), "module %s: no .tf files in %s" % (name, path)


@pytest.mark.parametrize("name", sorted(module_calls()))
def test_module_inputs_match_variables(name):
    block, path = module_calls()[name]
    passed = set(block.attributes()) - MODULE_META_ARGUMENTS
    declared = variables(path)
    undeclared = sorted(passed - set(declared))
    assert not undeclared, "module %s is passed undeclared inputs: %s" % (name, undeclared)
    required = {n for n, b in declared.items() if "default" not in b.attributes()}
    missing = sorted(required - passed)
    assert not missing, "module %s is not passed required inputs: %s" % (name, missing)


def test_module_outputs_referenced_exist():
    calls = module_calls()
    code = read_dir(TF_DIR)
    references = set(re.findall(r"\bmodule\.([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_-]*)", code))
    assert references, "the root module references no module outputs"
    for module, output in sorted(references):
        assert module in calls, "module.%s.%s: no module %s" % (module, output, module)
        assert output in outputs(calls[module][1]), \
            "module.%s.%s: %s/outputs.tf has no output %s" % (module, output, calls[module][1].name, output)


@pytest.mark.parametrize("directory", ALL_DIRS, ids=ident)
def test_outputs_have_descriptions(directory):
    for name, block in outputs(directory).items():
        assert string_value(block.attributes().get("description", "")), \
            "output %s (%s) has no description" % (name, ident(directory))


# --- 5. The inventory template -----------------------------------------------------

SAMPLE = {
    "runners": [
        {"name": "berth-runner-1", "address": "10.20.0.11"},
        {"name": "berth-runner-2", "address": "10.20.0.12"},
    ],
    "ssh_user": "root",
    "bastion_address": "203.0.113.10",
}


def to_hcl(value):
    if isinstance(value, dict):
        return "{ %s }" % ", ".join("%s = %s" % (k, to_hcl(v)) for k, v in value.items())
    if isinstance(value, list):
        return "[%s]" % ", ".join(to_hcl(v) for v in value)
    return json.dumps(value)  # the sample's strings have no ${ or %{


def test_inventory_template_call_matches_sample():
    """The sample below passes exactly the variables that outputs.tf passes to the template."""
    [output] = [b for b in find_blocks((TF_DIR / "outputs.tf").read_text(), "output")
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
    proc = terraform(["console"], workdir, stdin=expression, data_dir=workdir / "tfdata")
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


# --- 6. Security groups ------------------------------------------------------------


def resources(directory, kind):
    found = []
    for path in tf_files(directory):
        found += [b for b in find_blocks(path.read_text(), "resource") if b.labels[0] == kind]
    return found


def ingress_rules(directory):
    rules = resources(directory, "openstack_networking_secgroup_rule_v2")
    return [r for r in rules if string_value(r.attributes().get("direction", "")) == "ingress"]


def test_bastion_ssh_only_from_allowed_cidrs():
    rules = ingress_rules(MODULES_DIR / "bastion")
    assert rules, "the bastion module has no ingress rule"
    for rule in rules:
        attrs = rule.attributes()
        assert attrs.get("port_range_min") == "22" and attrs.get("port_range_max") == "22", \
            "bastion ingress rule %s is not SSH-only" % rule.labels[1]
        assert "0.0.0.0/0" not in rule.body and "::/0" not in rule.body, rule.body
        # one rule per allowed CIDR
        assert re.fullmatch(r"toset\(var\.allowed_cidrs\)", attrs.get("for_each", "")), attrs
        assert attrs.get("remote_ip_prefix") == "each.value", attrs
    # ... and the root passes the operator's list, which has no default.
    bastion_call = module_calls()["bastion"][0].attributes()
    assert bastion_call.get("allowed_cidrs") == "var.bastion_allowed_cidrs", bastion_call
    assert "default" not in variables(TF_DIR)["bastion_allowed_cidrs"].attributes()


def test_runners_ssh_only_from_bastion():
    rules = ingress_rules(MODULES_DIR / "runners")
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
    runners_call = module_calls()["runners"][0].attributes()
    assert runners_call.get("bastion_security_group_id") == "module.bastion.security_group_id", runners_call


def test_runner_ports_use_only_the_runner_group():
    [port] = resources(MODULES_DIR / "runners", "openstack_networking_port_v2")
    assert port.attributes().get("security_group_ids") == "[openstack_networking_secgroup_v2.runners.id]"


def test_runners_have_no_floating_ip():
    code = read_dir(MODULES_DIR / "runners")
    for kind in ("openstack_networking_floatingip_v2", "openstack_networking_floatingip_associate_v2",
                 "openstack_compute_floatingip_v2", "openstack_compute_floatingip_associate_v2"):
        assert kind not in code, "the runners module uses %s" % kind
    assert not re.search(r"\bfloating", code), "the runners module mentions a floating IP"
    # nor does the root module attach one to anything: the bastion's is in its module
    assert "floatingip" not in read_dir(TF_DIR), "the root module creates a floating IP"


# --- 7. The variables' validation rules, evaluated by terraform offline -------------


def plan_variables(tmp_path, extra_args):
    """terraform plan of a configuration made of variables.tf alone: runs every validation."""
    workdir = tmp_path / "vars"
    workdir.mkdir(exist_ok=True)
    shutil.copy(TF_DIR / "variables.tf", workdir)
    shutil.copy(TFVARS_EXAMPLE, workdir / "example.tfvars")
    data_dir = tmp_path / "tfdata"
    if not data_dir.exists():
        init = terraform(["init", "-backend=false", "-input=false", "-no-color"], workdir, data_dir=data_dir)
        assert init.returncode == 0, init.stdout + init.stderr
    return terraform(["plan", "-input=false", "-refresh=false", "-lock=false", "-no-color",
                      "-var-file=example.tfvars"] + extra_args, workdir, data_dir=data_dir)


@needs_terraform
def test_example_tfvars_pass_validation(tmp_path):
    proc = plan_variables(tmp_path, [])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_terraform
@pytest.mark.parametrize("args, message", [
    (["-var", 'bastion_allowed_cidrs=["0.0.0.0/0"]'], "whole internet"),
    (["-var", "bastion_allowed_cidrs=[]"], "at least one CIDR"),
    (["-var", 'bastion_allowed_cidrs=["203.0.113.7"]'], "IPv4 CIDR"),
    (["-var", 'bastion_allowed_cidrs=["203.0.113.7/24"]'], "network address"),
    (["-var", "private_network_cidr=10.20.0.0"], "private_network_cidr"),
    (["-var", "private_network_cidr=10.0.0.0/8"], "/16 and /28"),
    (["-var", "availability_zone=ru-3a"], "zone of the chosen region"),
    (["-var", "disk_type=fast.ru-9a"], "without the zone"),
    (["-var", "runners_count=0"], "whole number, at least 1"),
    (["-var", "ssh_public_key=~/.ssh/id_ed25519.pub"], "OpenSSH format"),
    (["-var", "project_user_password=short"], "at least 8 characters"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_values_are_refused(tmp_path, args, message):
    proc = plan_variables(tmp_path, args)
    output = re.sub(r"\s+", " ", proc.stdout + proc.stderr)
    assert proc.returncode != 0, "accepted %s" % args
    assert message in output, output
