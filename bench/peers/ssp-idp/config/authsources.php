<?php
/* The no-login test user of the benchmark peer: every SSO request is authenticated at once. */
$config = [
    'static-user' => ['exampleauth:StaticSource',
        'uid' => ['valfrid'], 'cn' => ['Valfrid Lindeman'], 'givenName' => ['Valfrid'], 'sn' => ['Lindeman'],
        'displayName' => ['Valfrid Lindeman'], 'personalIdentityNumber' => ['195006262546'],
        'orgAffiliation' => ['valfrid@2021000001']],
];
