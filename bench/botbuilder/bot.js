// The botbuilder-js peer of scripts/bench: a CloudAdapter bot answering the
// same signed refresh invoke as joinchat, with one Redis MGET per request.
//
// Auth is botbuilder's own channel validation (ParameterizedBotFrameworkAuthentication):
// the real issuer (https://api.botframework.com), audience = the app id, the
// serviceurl claim and the endorsements, with the signing keys taken from the
// simulated cloud's OpenID metadata instead of login.botframework.com. The only
// override is that metadata URL (and the login URL, so that nothing is sent
// outside the machine). botbuilder does not check the tenant of an activity;
// the handler does, as joinchat does.
//
// HTTP is node:http with the four-method response shim CloudAdapter accepts
// (restify and express do more per request, so this flatters botbuilder a little).
//
// Configuration (environment): BENCH_PORT, BENCH_APP_ID, BENCH_APP_PASSWORD,
// BENCH_TENANT_ID, BENCH_OPENID_METADATA_URL, BENCH_LOGIN_URL, BENCH_REDIS_URL,
// BENCH_KEY_PREFIX (default "jc:").
'use strict';

const http = require('node:http');
const { CloudAdapter, ConfigurationBotFrameworkAuthentication, TeamsActivityHandler } = require('botbuilder');
const { createClient } = require('redis');

const env = (name, fallback) => {
    const value = process.env[name] ?? fallback;
    if (value === undefined) {
        console.error(`bench/botbuilder: ${name} is not set`);
        process.exit(2);
    }
    return value;
};

const port = Number(env('BENCH_PORT', '4001'));
const appId = env('BENCH_APP_ID');
const tenantId = env('BENCH_TENANT_ID');
const prefix = env('BENCH_KEY_PREFIX', 'jc:');
const openIdMetadataUrl = env('BENCH_OPENID_METADATA_URL');

const auth = new ConfigurationBotFrameworkAuthentication({
    MicrosoftAppId: appId,
    MicrosoftAppPassword: env('BENCH_APP_PASSWORD'),
    MicrosoftAppType: 'SingleTenant',
    MicrosoftAppTenantId: tenantId,
    // Any of these set means "parameterized": all of them are then used as given.
    ToBotFromChannelOpenIdMetadataUrl: openIdMetadataUrl,
    ToBotFromEmulatorOpenIdMetadataUrl: openIdMetadataUrl,
    ToBotFromChannelTokenIssuer: 'https://api.botframework.com',
    ToChannelFromBotLoginUrl: `${env('BENCH_LOGIN_URL')}/${tenantId}`,
    ToChannelFromBotOAuthScope: 'https://api.botframework.com',
    OAuthUrl: 'https://api.botframework.com',
    CallerId: 'urn:botframework:azure',
    ValidateAuthority: false,
});
const adapter = new CloudAdapter(auth);
adapter.onTurnError = async (_context, error) => {
    console.error('turn error:', error);
};

const redis = createClient({ url: env('BENCH_REDIS_URL') });
redis.on('error', (error) => console.error('redis:', error.message));

class RefreshBot extends TeamsActivityHandler {
    async onAdaptiveCardInvoke(context, invokeValue) {
        const activity = context.activity;
        if (activity.conversation?.tenantId !== tenantId) {
            return { statusCode: 403, type: 'application/vnd.microsoft.error', value: { code: 'Forbidden', message: 'Other tenant.' } };
        }
        const { verb, data } = invokeValue.action;
        const aad = activity.from?.aadObjectId;
        if (verb !== 'refresh' || !aad || !data?.entity || !data?.record_id) {
            return { statusCode: 400, type: 'application/vnd.microsoft.error', value: { code: 'BadRequest', message: 'Not a refresh.' } };
        }
        const values = await redis.mGet([
            `${prefix}cfg:joinchat`,
            `${prefix}acc:${aad}:${data.entity}:${data.record_id}`,
            `${prefix}chats:${data.entity}:${data.record_id}`,
        ]);
        const cached = values.filter((value) => value !== null).length;
        return {
            statusCode: 200,
            type: 'application/vnd.microsoft.card.adaptive',
            value: {
                type: 'AdaptiveCard',
                version: '1.5',
                body: [{ type: 'TextBlock', text: `${cached} of 3 facts cached` }],
            },
        };
    }
}
const bot = new RefreshBot();

const MAX_BODY = 1024 * 1024;

const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/api/messages') {
        res.statusCode = 404;
        res.end();
        return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
        size += chunk.length;
        if (size > MAX_BODY) {
            res.statusCode = 413;
            res.end();
            req.destroy();
            return;
        }
        chunks.push(chunk);
    });
    req.on('end', () => {
        if (res.writableEnded) return;
        try {
            req.body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
            res.statusCode = 400;
            res.end();
            return;
        }
        adapter.process(req, shim(res), (context) => bot.run(context)).catch((error) => {
            console.error('process:', error);
            if (!res.writableEnded) {
                res.statusCode = 500;
                res.end();
            }
        });
    });
});

// The Response interface CloudAdapter accepts (status, header, send, end).
function shim(res) {
    return {
        status(code) {
            res.statusCode = code;
        },
        header(name, value) {
            res.setHeader(name, value);
        },
        send(body) {
            if (typeof body === 'object' && !Buffer.isBuffer(body)) {
                res.setHeader('Content-Type', 'application/json');
                res.write(JSON.stringify(body));
            } else {
                res.write(String(body));
            }
        },
        end() {
            res.end();
        },
    };
}

redis.connect().then(() => {
    server.listen(port, '127.0.0.1', () => {
        console.log(`botbuilder peer listening on http://127.0.0.1:${port}`);
    });
});

const stop = () => {
    server.close();
    redis.quit().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
