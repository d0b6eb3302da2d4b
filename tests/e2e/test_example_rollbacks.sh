#!/usr/bin/env bash
# examples/rollbacks.toml (helm / kubectl / Argo Rollouts command rollbacks,
# an http rollback, read-back checks, the unleash and http flag providers)
# passes `check`; mistakes in the new tables are reported with their path,
# and no token reaches the output.
source "$(dirname "$0")/lib.sh"
EX=$DG_SOURCE_DIR/examples/rollbacks.toml
export UNLEASH_TOKEN='*:*.example-unleash-admin-token' FLAGS_TOKEN='Bearer example-flags-token' DEPLOY_TOKEN='Bearer example-deploy-token'
dg check --config "$EX"
expect_rc 0
grep -qx OK "$WORK/out.txt" || fail "check does not print OK: $(cat "$WORK/out.txt" "$WORK/err.txt")"

sed -e 's/^within = "3m"/witin = "3m"/' \
    -e 's|^token = "env:UNLEASH_TOKEN"|token = "*:*.literal-unleash-token"|' \
    -e 's|^environment = "production"$|environmnt = "production"|' \
    -e 's|{{flag}}/state|{{flags}}/state|' \
    -e 's|^body_contains = \["stable"\]|body_contains = 42|' \
    "$EX" >"$WORK/bad.toml"
dg check --config "$WORK/bad.toml"
expect_rc 2
err=$(cat "$WORK/err.txt")
grep -q "rollbacks.helm.check.witin: unknown key 'witin' (did you mean 'within'?)" <<<"$err" || fail "check table typo: $err"
grep -q "flag_providers.unleash.token: literal secret" <<<"$err" || fail "literal token: $err"
grep -q "flag_providers.unleash.environment: missing" <<<"$err" || fail "missing environment: $err"
grep -q "flag_providers.inhouse.restore.url: unknown placeholder {{flags}}" <<<"$err" || fail "placeholder: $err"
grep -q "rollbacks.argo.check.body_contains" <<<"$err" || fail "body_contains type: $err"
! grep -q "literal-unleash-token\|example-flags-token\|example-deploy-token" "$WORK/out.txt" "$WORK/err.txt" \
  || fail "a token reached the output: $err"
pass "examples/rollbacks.toml checks; its mistakes are reported"
