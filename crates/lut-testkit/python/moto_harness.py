"""moto's server for lut's tests, plus a small JSON-lines command channel to set it up.

Started by lut-testkit (crates/lut-testkit/src/moto.rs) with the venv's python:

    python moto_harness.py

It serves moto's WSGI application (the same one `moto_server` runs) on 127.0.0.1 with a
port the kernel picks, prints `LUT_MOTO_PORT=<port>` on stdout, then reads one JSON command
per line on stdin and answers one JSON line on stdout. When stdin closes -- the test process
exited, normally or not, so the kernel closed the pipe -- it exits at once. That ties the
server's life to the test process without signals, atexit hooks or prctl.

Commands: {"op": "init"} (reset moto, create the admin user, switch auth enforcement on),
{"op": "call", "service": ..., "region": ..., "method": ..., "args": {...}, "keys": [id, secret,
token?]} (one boto3 call, with the admin's keys unless "keys" is given; {"$b64": "..."} in
args becomes bytes), {"op": "reset"}, and the
composite set-up helpers below. Answers: {"ok": result} or {"error": {"code", "message"}}.
"""
import base64
import datetime
import json
import os
import sys
import threading

from werkzeug.serving import make_server

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

ADMIN = "lut-testkit-admin"
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def start_server():
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_address[1]
    os.environ["MOTO_PORT"] = str(port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return port


class Harness:
    def __init__(self, port):
        import boto3
        import botocore.config

        self.boto3 = boto3
        self.endpoint = f"http://127.0.0.1:{port}"
        self.cfg = botocore.config.Config(
            s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"}
        )
        # Before enforcement any key works; moto's documented test keys.
        self.keys = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        self.clients = {}

    def client(self, service, region="us-east-1", keys=None):
        keys = tuple(keys) if keys else self.keys
        k = (service, region, keys)
        if k not in self.clients:
            self.clients[k] = self.boto3.client(
                service,
                region_name=region,
                endpoint_url=self.endpoint,
                aws_access_key_id=keys[0],
                aws_secret_access_key=keys[1],
                aws_session_token=keys[2] if len(keys) > 2 else None,
                config=self.cfg,
            )
        return self.clients[k]

    def post(self, path, body=b""):
        import urllib.request

        # text/plain: a form content type would make Flask swallow the body.
        req = urllib.request.Request(
            self.endpoint + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(req) as r:
            return r.read()

    # -- commands ----------------------------------------------------------------------
    def op_init(self, _cmd):
        """Fresh moto, an all-powerful admin user, then IAM enforcement on."""
        self.post("/moto-api/reset-auth", b"inf")
        self.post("/moto-api/reset")
        self.keys = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        self.clients = {}
        iam = self.client("iam")
        user = iam.create_user(UserName=ADMIN)["User"]
        iam.put_user_policy(UserName=ADMIN, PolicyName="admin", PolicyDocument=json.dumps(ALLOW_ALL))
        key = iam.create_access_key(UserName=ADMIN)["AccessKey"]
        self.keys = (key["AccessKeyId"], key["SecretAccessKey"])
        self.clients = {}
        self.post("/moto-api/reset-auth", b"0")
        account = user["Arn"].split(":")[4]
        return {"account_id": account, "admin_arn": user["Arn"], "access_key_id": self.keys[0],
                "secret_access_key": self.keys[1]}

    def op_reset(self, cmd):
        return self.op_init(cmd)

    def op_call(self, cmd):
        c = self.client(cmd["service"], cmd.get("region") or "us-east-1", cmd.get("keys"))
        resp = getattr(c, cmd["method"])(**decode(cmd.get("args") or {}))
        resp.pop("ResponseMetadata", None)
        return resp

    def op_create_principal(self, cmd):
        """lut's own identity: an IAM user that may assume roles (any role, like a
        deployment whose policy allows `sts:AssumeRole` on `role/<prefix>*`)."""
        iam = self.client("iam")
        name = cmd["name"]
        user = iam.create_user(UserName=name)["User"]
        policy = cmd.get("policy") or {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/*"}],
        }
        iam.put_user_policy(UserName=name, PolicyName="lut-service", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {"user_name": name, "arn": user["Arn"], "access_key_id": key["AccessKeyId"],
                "secret_access_key": key["SecretAccessKey"]}

    def op_create_reader_role(self, cmd):
        """The role of SPEC §6.4: trust for one principal with an ExternalId condition, and
        an inline ReadData policy for one bucket, the given objects and optionally a key."""
        iam = self.client("iam")
        cond = {"Bool": {"aws:SecureTransport": "true"}}
        if cmd.get("external_id") is not None:
            cond["StringEquals"] = {"sts:ExternalId": cmd["external_id"]}
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": cmd["trusted_arn"]},
                           "Action": "sts:AssumeRole", "Condition": cond}],
        }
        role = iam.create_role(RoleName=cmd["name"], AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        bucket = cmd["bucket"]
        stmts = [
            {"Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": f"arn:aws:s3:::{bucket}"},
            {"Effect": "Allow", "Action": "s3:GetObject",
             "Resource": [f"arn:aws:s3:::{bucket}/{k}" for k in cmd["keys"]]},
        ]
        if cmd.get("kms_key_arn"):
            stmts.append({"Effect": "Allow", "Action": ["kms:Decrypt", "kms:DescribeKey"],
                          "Resource": cmd["kms_key_arn"]})
        policy = {"Version": "2012-10-17", "Statement": stmts}
        iam.put_role_policy(RoleName=cmd["name"], PolicyName="ReadData", PolicyDocument=json.dumps(policy))
        return {"arn": role["Arn"]}

    def op_create_bucket(self, cmd):
        region = cmd.get("region") or "us-east-1"
        args = {"Bucket": cmd["name"]}
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self.client("s3", region).create_bucket(**args)
        return {}

    def op_put_object(self, cmd):
        args = {"Bucket": cmd["bucket"], "Key": cmd["key"], "Body": base64.b64decode(cmd["body_b64"])}
        if cmd.get("content_encoding"):
            args["ContentEncoding"] = cmd["content_encoding"]
        if cmd.get("content_type"):
            args["ContentType"] = cmd["content_type"]
        if cmd.get("kms_key_id"):
            args["ServerSideEncryption"] = "aws:kms"
            args["SSEKMSKeyId"] = cmd["kms_key_id"]
        resp = self.client("s3", cmd.get("region") or "us-east-1").put_object(**args)
        return {"etag": resp["ETag"]}

    def op_create_kms_key(self, cmd):
        meta = self.client("kms", cmd.get("region") or "us-east-1").create_key(
            Description=cmd.get("description") or "lut test key")["KeyMetadata"]
        return {"key_id": meta["KeyId"], "arn": meta["Arn"]}


def decode(v):
    if isinstance(v, dict):
        if set(v) == {"$b64"}:
            return base64.b64decode(v["$b64"])
        return {k: decode(x) for k, x in v.items()}
    if isinstance(v, list):
        return [decode(x) for x in v]
    return v


def encode(v):
    if isinstance(v, (bytes, bytearray)):
        return {"$b64": base64.b64encode(v).decode()}
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: encode(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [encode(x) for x in v]
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def main():
    # Set-up calls go to 127.0.0.1 directly, whatever proxy the environment names.
    for var in ("NO_PROXY", "no_proxy"):
        os.environ[var] = ",".join(filter(None, [os.environ.get(var), "127.0.0.1", "localhost"]))
    port = start_server()
    out = sys.stdout
    out.write(f"LUT_MOTO_PORT={port}\n")
    out.flush()
    h = Harness(port)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            result = {"ok": encode(getattr(h, "op_" + cmd["op"])(cmd))}
        except Exception as e:  # noqa: BLE001 - every failure goes back to the caller
            code = type(e).__name__
            resp = getattr(e, "response", None)
            if isinstance(resp, dict) and resp.get("Error", {}).get("Code"):
                code = resp["Error"]["Code"]
            result = {"error": {"code": code, "message": str(e)}}
        out.write(json.dumps(result) + "\n")
        out.flush()
    # stdin closed: the test process is gone.
    os._exit(0)


if __name__ == "__main__":
    main()
