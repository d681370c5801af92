"""Build real, signed APKs from source with Debian's Android tools (smali, aapt, zipalign, apksigner):
the test APKs, the benchmark's and the demo app's.

Debian ships no android.jar, so a stub framework package defining the public attribute ids the
manifest uses is compiled first with `aapt package -x`; smali assembles stub classes under the
SDK package names a test asks for, one DEX per list of classes (classes.dex, classes2.dex, ...).
`make android-tools` installs the tools. Used by the tests, bench/apps_speed.py and `scanner demo`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

TOOLS = ("smali", "aapt", "zipalign", "apksigner", "keytool")
KEY_PASSWORD = "scanner-tests"  # a throwaway key made per run; nothing it signs leaves the tmp dir

# The public ids of android:* attributes as the real framework defines them (android.R.attr).
FRAMEWORK_ATTRS = {
    "label": ("0x01010001", "reference|string"),
    "name": ("0x01010003", "string"),
    "minSdkVersion": ("0x0101020c", "integer|string"),
    "versionCode": ("0x0101021b", "integer"),
    "versionName": ("0x0101021c", "string"),
    "targetSdkVersion": ("0x01010270", "integer|string"),
    "maxSdkVersion": ("0x01010271", "integer"),
}


def missing_tools() -> list[str]:
    """The Android build tools not on PATH (empty when APKs can be built)."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


@dataclass(frozen=True)
class ApkSpec:
    """What a test APK contains; classes are 'com/x/Y' or 'com.x.Y', one tuple per DEX file."""

    package: str = "com.example.kids"
    version_name: str = "1.0"
    version_code: int = 1
    min_sdk: int = 21
    target_sdk: int = 34
    permissions: tuple[str, ...] = ()
    dex_classes: tuple[tuple[str, ...], ...] = ((),)
    strings: tuple[str, ...] = ()       # const-strings in the app's own class (the DEX string table)
    references: tuple[str, ...] = ()    # types referenced by const-class but defined nowhere
    methods_per_class: int = 0          # code in each stub class (a constructor and N methods)
    string_resources: tuple[tuple[str, str], ...] = ()   # res/values/strings.xml, for "@string/x"
    label: str = "Test app"

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def _descriptor(class_name: str) -> str:
    return "L" + class_name.replace(".", "/") + ";"


def _smali_class(class_name: str, body: str = "") -> str:
    return f".class public {_descriptor(class_name)}\n.super Ljava/lang/Object;\n.source \"stub\"\n{body}"


def _smali_methods(class_name: str, count: int) -> str:
    """A constructor, a field and `count` small methods with a string each: DEX code to parse."""
    if not count:
        return ""
    parts = [".field private static calls:I\n",
             ".method public constructor <init>()V\n    .registers 1\n"
             "    invoke-direct {p0}, Ljava/lang/Object;-><init>()V\n    return-void\n.end method\n"]
    for index in range(count):
        parts.append(f".method public static m{index}()Ljava/lang/String;\n    .registers 2\n"
                     f"    sget v1, {_descriptor(class_name)}->calls:I\n"
                     f"    add-int/lit8 v1, v1, 0x1\n    sput v1, {_descriptor(class_name)}->calls:I\n"
                     f'    const-string v0, "{_smali_string(class_name)}#{index}"\n'
                     "    return-object v0\n.end method\n")
    return "".join(parts)


def _smali_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _app_class(spec: ApkSpec) -> tuple[str, str]:
    """The app's own class: holds the strings and the referenced-only types."""
    name = spec.package.replace(".", "/") + "/MainActivity"
    lines = []
    for value in spec.strings:
        lines += [f'    const-string v0, "{_smali_string(value)}"']
    for ref in spec.references:
        lines += [f"    const-class v0, {_descriptor(ref)}"]
    # An interface, a static value and an annotation: the DEX sections a class definition points to.
    body = (".implements Ljava/io/Serializable;\n"
            ".annotation runtime Ljava/lang/Deprecated;\n.end annotation\n"
            f'.field public static final TAG:Ljava/lang/String; = "{_smali_string(spec.package)}"\n')
    if lines:
        body += (".method public static touch()V\n    .registers 1\n" + "\n".join(lines)
                 + "\n    return-void\n.end method\n")
    return name, _smali_class(name, body)


class ApkBuilder:
    """Builds and caches APKs under `workdir`; one signing key and stub framework per builder."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._framework: Path | None = None
        self._keystore: Path | None = None

    def _run(self, *args: str, cwd: Path | None = None) -> None:
        result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:3])}... failed: {(result.stderr or result.stdout)[-2000:]}")

    def framework(self) -> Path:
        """A stub `android` resource package (id 0x01) defining the attributes a manifest uses."""
        if self._framework is None:
            root = self.workdir / "framework"
            values = root / "res" / "values"
            values.mkdir(parents=True, exist_ok=True)
            (root / "AndroidManifest.xml").write_text(
                '<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="android"/>\n')
            (values / "attrs.xml").write_text("<resources>\n" + "".join(
                f'  <attr name="{name}" format="{fmt}"/>\n' for name, (_, fmt) in FRAMEWORK_ATTRS.items())
                + "</resources>\n")
            (values / "public.xml").write_text("<resources>\n" + "".join(
                f'  <public type="attr" name="{name}" id="{ident}"/>\n'
                for name, (ident, _) in FRAMEWORK_ATTRS.items()) + "</resources>\n")
            out = self.workdir / "framework.apk"
            self._run("aapt", "package", "-f", "-x", "-M", str(root / "AndroidManifest.xml"),
                      "-S", str(root / "res"), "-F", str(out))
            self._framework = out
        return self._framework

    def keystore(self) -> Path:
        if self._keystore is None:
            path = self.workdir / "test-key.p12"
            if not path.exists():
                self._run("keytool", "-genkeypair", "-keystore", str(path), "-storetype", "PKCS12",
                          "-storepass", KEY_PASSWORD, "-keypass", KEY_PASSWORD, "-alias", "test",
                          "-keyalg", "RSA", "-keysize", "2048", "-validity", "3650",
                          "-dname", "CN=child-privacy-scanner tests")
            self._keystore = path
        return self._keystore

    def manifest(self, spec: ApkSpec) -> str:
        permissions = "".join(f"  <uses-permission android:name={quoteattr(p)}/>\n" for p in spec.permissions)
        return (
            '<manifest xmlns:android="http://schemas.android.com/apk/res/android"\n'
            f"    package={quoteattr(spec.package)} android:versionCode=\"{spec.version_code}\"\n"
            f"    android:versionName={quoteattr(spec.version_name)}>\n"
            f'  <uses-sdk android:minSdkVersion="{spec.min_sdk}" android:targetSdkVersion="{spec.target_sdk}"/>\n'
            f"{permissions}"
            f"  <application android:label={quoteattr(spec.label)}/>\n"
            "</manifest>\n")

    def build(self, spec: ApkSpec) -> Path:
        """The signed APK for `spec` (built once per builder and spec)."""
        out = self.workdir / f"{spec.package}-{spec.key()}.apk"
        if out.exists():
            return out
        work = self.workdir / f"build-{spec.key()}"
        shutil.rmtree(work, ignore_errors=True)
        payload = work / "payload"
        payload.mkdir(parents=True)
        dexes = list(spec.dex_classes) or [()]
        app_name, app_source = _app_class(spec)
        for index, classes in enumerate(dexes):
            source = work / f"smali{index + 1}"
            source.mkdir()
            sources = {name: _smali_class(name, _smali_methods(name, spec.methods_per_class))
                       for name in classes}
            if index == 0:
                sources[app_name] = app_source
            for name, text in sources.items():
                path = source / (name.replace(".", "/") + ".smali")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            dex_name = "classes.dex" if index == 0 else f"classes{index + 1}.dex"
            self._run("smali", "assemble", "--api", str(spec.min_sdk), "-j", str(os.cpu_count() or 1),
                      "-o", str(payload / dex_name), str(source))
        manifest = work / "AndroidManifest.xml"
        manifest.write_text(self.manifest(spec), encoding="utf-8")
        unsigned, aligned = work / "unsigned.apk", work / "aligned.apk"
        resources = []
        if spec.string_resources:
            values = work / "res" / "values"
            values.mkdir(parents=True)
            (values / "strings.xml").write_text("<resources>\n" + "".join(
                f'  <string name="{name}">{escape(value)}</string>\n' for name, value in spec.string_resources)
                + "</resources>\n", encoding="utf-8")
            resources = ["-S", str(work / "res")]
        self._run("aapt", "package", "-f", "-M", str(manifest), *resources, "-I", str(self.framework()),
                  "-F", str(unsigned), str(payload))
        self._run("zipalign", "-f", "4", str(unsigned), str(aligned))
        self._run("apksigner", "sign", "--ks", str(self.keystore()), "--ks-pass", f"pass:{KEY_PASSWORD}",
                  "--ks-key-alias", "test", "--out", str(out), str(aligned))
        shutil.rmtree(work, ignore_errors=True)
        return out
