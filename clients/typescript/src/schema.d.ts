// Generated from im-access's OpenAPI document by openapi-typescript: do not edit.
// Regenerate with `npm run generate` in clients/typescript (IM_ACCESS_BIN names the binary).

export interface paths {
    "/.well-known/jwks.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The public keys that verify IM tokens */
        get: operations["jwks"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/accessuser/changephone": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Move the account to a new number, proven by a code sent to it */
        post: operations["change_phone"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/accessuser/deleteaccount": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Delete the account (sessions, relations, profile, avatar), proven by a code sent to its own number */
        post: operations["delete_account"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/accessuser/getimtoken": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** An IM token: a fresh login im_token, or an action token for act and its members */
        post: operations["get_im_token"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/accessuser/logout": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Sign out: the token stops working at once */
        post: operations["logout"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/accessuser/revokesession": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** End the session of one device type (none there is fine) */
        post: operations["revoke_session"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/accessuser/searchbynickname": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The user with exactly this nickname (who has not blocked the caller) */
        get: operations["search_by_nickname"];
        put?: never;
        /** The user with exactly this nickname (who has not blocked the caller) */
        post: operations["search_by_nickname_post"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/accessuser/searchbyuniquename": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Users by id, in the order asked; whoever blocked the caller is left out */
        get: operations["search_by_unique_name"];
        put?: never;
        /** Users by id, in the order asked; whoever blocked the caller is left out */
        post: operations["search_by_unique_name_post"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/accessuser/sessionlist": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** The caller's sessions: one per device type, the current one marked */
        post: operations["session_list"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/accessuser/signinbysms": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Sign in with an SMS code; the first sign-in of a number creates the user */
        post: operations["signin"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/accessuser/updateuserinfo": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /** Change the nickname and/or the avatar (the Android client sends PUT with ?nickname=) */
        put: operations["update_user_info_put"];
        /** Change the nickname and/or the avatar (the Android client sends PUT with ?nickname=) */
        post: operations["update_user_info"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/audit": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The audit log, newest first: every change an operator made (and bans that ended by themselves) */
        get: operations["audit"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/sessions/revoke": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Force logout: the user's sessions (one device type, or all) end at once
         * @description session.revoked with reason admin, for each session ended, on every process within a second.
         */
        post: operations["revoke"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/users/ban": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Ban an account (or change a ban's reason and end); its sessions end at once
         * @description In one transaction: the ban, every session revoked (session.revoked, reason banned), user.banned, the audit row. Until the ban ends sign-in answers 403 账号已被封禁 and sms/send to the number answers as for anyone but sends nothing. It ends by itself at `until` (user.unbanned).
         */
        post: operations["ban"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/users/delete": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Delete an account, exactly as accessuser/deleteaccount does */
        post: operations["delete"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/users/lookup": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** An account as operators see it: profile, state, sessions and counts */
        get: operations["lookup"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/users/unban": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Lift a ban (user.unbanned); an active user stays as is
         * @description Unbanning an active user answers ok, changes nothing and emits nothing; the call is still audited.
         */
        post: operations["unban"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/docs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** This document as an HTML reference */
        get: operations["docs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Alive */
        get: operations["healthz"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/internal/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Published events after a seq, to fill a gap or catch up after a snapshot */
        get: operations["replay_events"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/internal/relations/check": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * How one user stands with up to 1000 others: exists, follows, followed_by, blocks, blocked_by
         * @description `follows`: user_id follows the other; `blocked_by`: the other blocks user_id. An unknown or deleted other has exists false and every flag false. Answered from the caches when the user's lists are in them, else from one database statement; `seq` is the last published event seq when read.
         */
        post: operations["check"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/internal/snapshot": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * One page of every follow, block or user, by a stable key, with the seq to replay events after
         * @description Walk a kind from the first page (no `after`) to the page whose `next` is null, passing each `next` as `after`. `snapshot_seq` is the last event seq published when the walk's first page was read, the same on every page. Load the three kinds, then apply every event with seq > snapshot_seq (the smallest of the three walks' values) in seq order: the result is the current state, even if changes were made during the walk. Follows and blocks are ordered by (from_user_id, to_user_id), users by user_id; deleted users appear with state deleted.
         */
        get: operations["snapshot"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/internal/users": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Users by id with their state (active, banned, deleted), in the order asked
         * @description Ids that never existed are left out. A deleted user is answered with state deleted and null nickname and avatar.
         */
        get: operations["users"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Prometheus metrics */
        get: operations["metrics"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/openapi.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** This document */
        get: operations["openapi"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/readyz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Ready: the database answers (the broker's state is reported, not required) */
        get: operations["readyz"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/relation/contactlist": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Which of the caller's phone contacts are registered (rate limited: it reveals who is) */
        post: operations["contact_list"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/relation/followlist": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** A page of the caller's follows, fans, friends or blacklist, newest first */
        post: operations["follow_list"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/relation/operation": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Follow, unfollow, block or unblock another user (idempotent) */
        post: operations["operation"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/sms/send": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Send a sign-in code (6 digits, valid 5 minutes) to a mobile number */
        post: operations["send"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** @description One row of `/admin/audit`. */
        AuditItem: {
            /**
             * @description `users.ban`, `users.unban`, `sessions.revoke` or `users.delete`.
             * @example users.ban
             */
            action: string;
            /**
             * @description RFC 3339 UTC, milliseconds.
             * @example 2026-12-01T04:05:47.123Z
             */
            at: string;
            /**
             * Format: int64
             * @example 12
             */
            id: number;
            /**
             * @description The admin key's name (never its secret); `(system)` for a ban that ended by itself.
             * @example alice
             */
            key: string;
            /**
             * @description The operator's reason (ban, delete); null for unban and revoke.
             * @example spam
             */
            reason?: string | null;
            /**
             * @description The changing request's `request-id`.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            request_id: string;
            /**
             * Format: int64
             * @example 8
             */
            user_id?: number | null;
        };
        Backlog: {
            /**
             * Format: int64
             * @description Events not yet confirmed by the broker.
             */
            backlog: number;
            /**
             * Format: double
             * @description Seconds since the oldest of them happened (0 when there is none).
             */
            oldest_age_seconds: number;
        };
        BanInput: {
            /**
             * @description Why: 1–200 characters once trimmed, no control characters. Kept in the audit log
             *     and sent in `user.banned`.
             * @example spam
             */
            reason: string;
            /**
             * @description When the ban ends: RFC 3339 with an offset, or unix seconds; in the future.
             *     Absent: no end.
             * @example 2026-12-24T00:00:00Z
             */
            until?: string | null;
            /** @description The user to ban. */
            user_id: components["schemas"]["UserId"];
        };
        ChangePhoneInput: {
            check_code: number | string;
            /**
             * @description The new number's country calling code.
             * @example 86
             */
            nation_code: string;
            /**
             * @description The new number.
             * @example 16533333333
             */
            phone: string;
        };
        CheckInput: {
            /**
             * @description The others, 1 to 1000, answered in this order (repeats answered again).
             * @example [
             *       7,
             *       8
             *     ]
             */
            others: components["schemas"]["UserId"][];
            /** @description The user the answer is about (6 in "6 follows 7"). */
            user_id: components["schemas"]["UserId"];
        };
        /** @description How a `Contact` is written (the wire's shape, for the OpenAPI document). */
        Contact: {
            /** @description The avatar's URL, or null. */
            avatar?: string | null;
            /** @example whaha12 */
            nickname: string;
            /**
             * Format: int64
             * @example 12
             */
            user_id: number;
        };
        ContactPage: {
            list: components["schemas"]["Contact"][];
            page_info: components["schemas"]["PageInfo"];
        };
        ContactsInput: {
            /**
             * @description Up to 100 numbers; without `+` they are read in the caller's own country.
             * @example [
             *       "16533333333",
             *       "+8616544444444"
             *     ]
             */
            phones: string[];
        };
        Counts: {
            /**
             * Format: int64
             * @description Users this one blocks.
             */
            blocks: number;
            /**
             * Format: int64
             * @description Users following this one.
             */
            fans: number;
            /**
             * Format: int64
             * @description Users this one follows.
             */
            follows: number;
        };
        DeleteInput: {
            /**
             * @description Why: 1–200 characters once trimmed. Kept in the audit log.
             * @example asked by the user
             */
            reason: string;
            /** @description The account to delete. */
            user_id: components["schemas"]["UserId"];
        };
        DeviceInput: {
            /** @description `web`, `h5`, `android` or `ios`. */
            device: components["schemas"]["DeviceType"];
        };
        /**
         * @description A device type (in any letter case, surrounding spaces ignored).
         * @enum {string}
         */
        DeviceType: "web" | "h5" | "android" | "ios";
        /** @enum {string} */
        Done: "ok";
        /**
         * @description Every answer: the route's `data` on success (`code` 0), `null` with an error code
         *     otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
         */
        Envelope_Contact: {
            /**
             * Format: int32
             * @description 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
             *     rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
             *     requests (with `Retry-After`), 500, 503.
             * @example 0
             */
            code: number;
            data: {
                /** @description The avatar's URL, or null. */
                avatar?: string | null;
                /** @example whaha12 */
                nickname: string;
                /**
                 * Format: int64
                 * @example 12
                 */
                user_id: number;
            } | null;
            /**
             * @description "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
             *     English.
             * @example ok
             */
            message: string;
            /**
             * @description 32 lowercase hex digits, also in the `X-Request-Id` header.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            "request-id": string;
        };
        /**
         * @description Every answer: the route's `data` on success (`code` 0), `null` with an error code
         *     otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
         */
        Envelope_ContactPage: {
            /**
             * Format: int32
             * @description 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
             *     rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
             *     requests (with `Retry-After`), 500, 503.
             * @example 0
             */
            code: number;
            data: {
                list: components["schemas"]["Contact"][];
                page_info: components["schemas"]["PageInfo"];
            } | null;
            /**
             * @description "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
             *     English.
             * @example ok
             */
            message: string;
            /**
             * @description 32 lowercase hex digits, also in the `X-Request-Id` header.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            "request-id": string;
        };
        /**
         * @description Every answer: the route's `data` on success (`code` 0), `null` with an error code
         *     otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
         */
        Envelope_Done: {
            /**
             * Format: int32
             * @description 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
             *     rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
             *     requests (with `Retry-After`), 500, 503.
             * @example 0
             */
            code: number;
            data: "ok" | null;
            /**
             * @description "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
             *     English.
             * @example ok
             */
            message: string;
            /**
             * @description 32 lowercase hex digits, also in the `X-Request-Id` header.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            "request-id": string;
        };
        /**
         * @description Every answer: the route's `data` on success (`code` 0), `null` with an error code
         *     otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
         */
        Envelope_EventPage: {
            /**
             * Format: int32
             * @description 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
             *     rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
             *     requests (with `Retry-After`), 500, 503.
             * @example 0
             */
            code: number;
            data: {
                /**
                 * @description Message bodies exactly as published, in `seq` order:
                 *     `{"id", "seq", "type", "occurred_at", "data"}`.
                 */
                events: Record<string, never>[];
                /**
                 * Format: int64
                 * @description The `seq` to pass as `after_seq` for the next page.
                 */
                next_after_seq: number;
                /**
                 * Format: int64
                 * @description The lowest `seq` still kept (null when none is); a consumer whose `after_seq + 1` is below it has
                 *     lost events past the retention.
                 */
                oldest_seq?: number | null;
            } | null;
            /**
             * @description "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
             *     English.
             * @example ok
             */
            message: string;
            /**
             * @description 32 lowercase hex digits, also in the `X-Request-Id` header.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            "request-id": string;
        };
        /**
         * @description Every answer: the route's `data` on success (`code` 0), `null` with an error code
         *     otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
         */
        Envelope_ProfileData: {
            /**
             * Format: int32
             * @description 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
             *     rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
             *     requests (with `Retry-After`), 500, 503.
             * @example 0
             */
            code: number;
            data: {
                /** @description The avatar's URL, or null. */
                avatar?: string | null;
                /** @example ivan */
                nickname: string;
                /**
                 * @description The user's id, as a string (as the seed has it).
                 * @example 146382
                 */
                user_id: string;
            } | null;
            /**
             * @description "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
             *     English.
             * @example ok
             */
            message: string;
            /**
             * @description 32 lowercase hex digits, also in the `X-Request-Id` header.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            "request-id": string;
        };
        /**
         * @description Every answer: the route's `data` on success (`code` 0), `null` with an error code
         *     otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
         */
        Envelope_Readiness: {
            /**
             * Format: int32
             * @description 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
             *     rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
             *     requests (with `Retry-After`), 500, 503.
             * @example 0
             */
            code: number;
            data: {
                /**
                 * @description `disabled` (no broker configured), `connecting`, `up` or `down`.
                 * @example up
                 */
                broker: string;
                /**
                 * @description `up` (when it is not, the answer is code 503).
                 * @example up
                 */
                database: string;
                outbox: components["schemas"]["Backlog"];
            } | null;
            /**
             * @description "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
             *     English.
             * @example ok
             */
            message: string;
            /**
             * @description 32 lowercase hex digits, also in the `X-Request-Id` header.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            "request-id": string;
        };
        /**
         * @description Every answer: the route's `data` on success (`code` 0), `null` with an error code
         *     otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
         */
        Envelope_RelationCheck: {
            /**
             * Format: int32
             * @description 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
             *     rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
             *     requests (with `Retry-After`), 500, 503.
             * @example 0
             */
            code: number;
            data: {
                /** @description One per id asked, in the order asked. */
                items: components["schemas"]["PairState"][];
                /**
                 * Format: int64
                 * @description The last seq published when the relations were read: every change published up
                 *     to it is in the answer.
                 * @example 1042
                 */
                seq: number;
            } | null;
            /**
             * @description "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
             *     English.
             * @example ok
             */
            message: string;
            /**
             * @description 32 lowercase hex digits, also in the `X-Request-Id` header.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            "request-id": string;
        };
        /**
         * @description Every answer: the route's `data` on success (`code` 0), `null` with an error code
         *     otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
         */
        Envelope_SignInData: {
            /**
             * Format: int32
             * @description 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
             *     rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
             *     requests (with `Retry-After`), 500, 503.
             * @example 0
             */
            code: number;
            data: {
                /** @description The avatar's URL, or null. */
                avatar?: string | null;
                /** @description A JWT for the IM server: claims `{"unique_name": <user_id>, "exp": …}`. */
                im_token: string;
                /**
                 * Format: int32
                 * @description 1 on the number's first sign-in (the user was created), else 0.
                 */
                is_first_login: number;
                /**
                 * Format: int64
                 * @description Unix seconds of the previous sign-in (of this one on the first).
                 * @example 1609855258
                 */
                last_seen: number;
                /** @example GLdKtM */
                nickname: string;
                /**
                 * Format: int32
                 * @description 0 for an ordinary user.
                 * @example 0
                 */
                role: number;
                /**
                 * @description The session token: send it as the `token` header.
                 * @example 63d128f9a25196029526506804d1b0c9
                 */
                token: string;
                /**
                 * Format: int64
                 * @example 8
                 */
                user_id: number;
            } | null;
            /**
             * @description "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
             *     English.
             * @example ok
             */
            message: string;
            /**
             * @description 32 lowercase hex digits, also in the `X-Request-Id` header.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            "request-id": string;
        };
        /**
         * @description Every answer: the route's `data` on success (`code` 0), `null` with an error code
         *     otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
         */
        Envelope_SnapshotPage: {
            /**
             * Format: int32
             * @description 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
             *     rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
             *     requests (with `Retry-After`), 500, 503.
             * @example 0
             */
            code: number;
            data: {
                /** @description Pairs for `follows` and `blocks`, users for `users` */
                items: {
                    /**
                     * Format: int64
                     * @example 6
                     */
                    from_user_id: number;
                    /**
                     * Format: int64
                     * @example 7
                     */
                    to_user_id: number;
                }[] | {
                    /** @description The avatar's URL, or null. */
                    avatar?: string | null;
                    /** @description RFC 3339, while banned with an end; else null. */
                    banned_until?: string | null;
                    /**
                     * @description Null once deleted.
                     * @example GLdKtM
                     */
                    nickname?: string | null;
                    state: components["schemas"]["UserState"];
                    /**
                     * Format: int64
                     * @example 7
                     */
                    user_id: number;
                }[];
                /** @description Pass as `after` for the next page; null on the last one. */
                next?: string | null;
                /**
                 * Format: int64
                 * @description The last seq published when the walk's first page was read; the same on every
                 *     page of the walk. Apply the events after it to what the pages hold.
                 * @example 1042
                 */
                snapshot_seq: number;
            } | null;
            /**
             * @description "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
             *     English.
             * @example ok
             */
            message: string;
            /**
             * @description 32 lowercase hex digits, also in the `X-Request-Id` header.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            "request-id": string;
        };
        /**
         * @description Every answer: the route's `data` on success (`code` 0), `null` with an error code
         *     otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
         */
        Envelope_String: {
            /**
             * Format: int32
             * @description 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
             *     rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
             *     requests (with `Retry-After`), 500, 503.
             * @example 0
             */
            code: number;
            data: string | null;
            /**
             * @description "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
             *     English.
             * @example ok
             */
            message: string;
            /**
             * @description 32 lowercase hex digits, also in the `X-Request-Id` header.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            "request-id": string;
        };
        /**
         * @description Every answer: the route's `data` on success (`code` 0), `null` with an error code
         *     otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
         */
        Envelope_UserCard: {
            /**
             * Format: int32
             * @description 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
             *     rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
             *     requests (with `Retry-After`), 500, 503.
             * @example 0
             */
            code: number;
            data: {
                /** @description The avatar's URL, or null. */
                avatar?: string | null;
                /**
                 * @description Null unless banned.
                 * @example spam
                 */
                ban_reason?: string | null;
                /**
                 * @description RFC 3339, or null: not banned, or banned with no end.
                 * @example 2026-12-24T00:00:00.000Z
                 */
                banned_until?: string | null;
                counts: components["schemas"]["Counts"];
                /**
                 * Format: int64
                 * @description Unix seconds.
                 * @example 1764547200
                 */
                created_at: number;
                /**
                 * Format: int64
                 * @description Unix seconds: the last sign-in or session use, whichever is later.
                 * @example 1764550800
                 */
                last_seen: number;
                /** @example 86 */
                nation_code: string;
                /** @example GLdKtM */
                nickname: string;
                /** @example 16522222222 */
                phone: string;
                /** @description Live sessions, oldest first, device ids in full; `current` is always false here. */
                sessions: components["schemas"]["SessionItem"][];
                /**
                 * @description `active` or `banned` (a deleted user is not found).
                 * @example banned
                 */
                state: string;
                /**
                 * Format: int64
                 * @example 8
                 */
                user_id: number;
            } | null;
            /**
             * @description "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
             *     English.
             * @example ok
             */
            message: string;
            /**
             * @description 32 lowercase hex digits, also in the `X-Request-Id` header.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            "request-id": string;
        };
        /**
         * @description Every answer: the route's `data` on success (`code` 0), `null` with an error code
         *     otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
         */
        Envelope_Vec_AuditItem: {
            /**
             * Format: int32
             * @description 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
             *     rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
             *     requests (with `Retry-After`), 500, 503.
             * @example 0
             */
            code: number;
            data: {
                /**
                 * @description `users.ban`, `users.unban`, `sessions.revoke` or `users.delete`.
                 * @example users.ban
                 */
                action: string;
                /**
                 * @description RFC 3339 UTC, milliseconds.
                 * @example 2026-12-01T04:05:47.123Z
                 */
                at: string;
                /**
                 * Format: int64
                 * @example 12
                 */
                id: number;
                /**
                 * @description The admin key's name (never its secret); `(system)` for a ban that ended by itself.
                 * @example alice
                 */
                key: string;
                /**
                 * @description The operator's reason (ban, delete); null for unban and revoke.
                 * @example spam
                 */
                reason?: string | null;
                /**
                 * @description The changing request's `request-id`.
                 * @example 4bf92f3577b34da6a3ce929d0e0e4736
                 */
                request_id: string;
                /**
                 * Format: int64
                 * @example 8
                 */
                user_id?: number | null;
            }[] | null;
            /**
             * @description "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
             *     English.
             * @example ok
             */
            message: string;
            /**
             * @description 32 lowercase hex digits, also in the `X-Request-Id` header.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            "request-id": string;
        };
        /**
         * @description Every answer: the route's `data` on success (`code` 0), `null` with an error code
         *     otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
         */
        Envelope_Vec_ImUser: {
            /**
             * Format: int32
             * @description 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
             *     rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
             *     requests (with `Retry-After`), 500, 503.
             * @example 0
             */
            code: number;
            data: {
                /** @description The avatar's URL, or null. */
                avatar?: string | null;
                /** @description RFC 3339, while banned with an end; else null. */
                banned_until?: string | null;
                /**
                 * @description Null once deleted.
                 * @example GLdKtM
                 */
                nickname?: string | null;
                state: components["schemas"]["UserState"];
                /**
                 * Format: int64
                 * @example 7
                 */
                user_id: number;
            }[] | null;
            /**
             * @description "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
             *     English.
             * @example ok
             */
            message: string;
            /**
             * @description 32 lowercase hex digits, also in the `X-Request-Id` header.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            "request-id": string;
        };
        /**
         * @description Every answer: the route's `data` on success (`code` 0), `null` with an error code
         *     otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
         */
        Envelope_Vec_PhoneContact: {
            /**
             * Format: int32
             * @description 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
             *     rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
             *     requests (with `Retry-After`), 500, 503.
             * @example 0
             */
            code: number;
            data: {
                /** @description The avatar's URL, or null. */
                avatar?: string | null;
                /** @example whaha12 */
                nickname: string;
                /** @example 16533333333 */
                phone: string;
                /**
                 * Format: int64
                 * @example 12
                 */
                user_id: number;
            }[] | null;
            /**
             * @description "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
             *     English.
             * @example ok
             */
            message: string;
            /**
             * @description 32 lowercase hex digits, also in the `X-Request-Id` header.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            "request-id": string;
        };
        /**
         * @description Every answer: the route's `data` on success (`code` 0), `null` with an error code
         *     otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
         */
        Envelope_Vec_SessionItem: {
            /**
             * Format: int32
             * @description 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
             *     rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
             *     requests (with `Retry-After`), 500, 503.
             * @example 0
             */
            code: number;
            data: {
                /**
                 * Format: int64
                 * @description Unix seconds.
                 * @example 1764563400
                 */
                created_at: number;
                /** @description The session this request used. */
                current: boolean;
                /** @example android */
                device: string;
                /**
                 * @description Only the last 4 characters, after `…` (empty when the device sent none).
                 * @example …dkci
                 */
                device_id: string;
                /**
                 * Format: int64
                 * @description Unix seconds; recorded at most once per `session.touch_interval_secs`.
                 */
                last_active_at: number;
            }[] | null;
            /**
             * @description "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
             *     English.
             * @example ok
             */
            message: string;
            /**
             * @description 32 lowercase hex digits, also in the `X-Request-Id` header.
             * @example 4bf92f3577b34da6a3ce929d0e0e4736
             */
            "request-id": string;
        };
        EventPage: {
            /**
             * @description Message bodies exactly as published, in `seq` order:
             *     `{"id", "seq", "type", "occurred_at", "data"}`.
             */
            events: Record<string, never>[];
            /**
             * Format: int64
             * @description The `seq` to pass as `after_seq` for the next page.
             */
            next_after_seq: number;
            /**
             * Format: int64
             * @description The lowest `seq` still kept (null when none is); a consumer whose `after_seq + 1` is below it has
             *     lost events past the retention.
             */
            oldest_seq?: number | null;
        };
        ImTokenInput: {
            /**
             * @description An IM action, `[a-z][a-z0-9_.]{0,63}`; absent: a fresh login im_token.
             * @example conv.create
             */
            act?: string | null;
            members?: (number | string)[] | string;
        };
        /** @description A user as `/internal/users` and the `users` snapshot give it. */
        ImUser: {
            /** @description The avatar's URL, or null. */
            avatar?: string | null;
            /** @description RFC 3339, while banned with an end; else null. */
            banned_until?: string | null;
            /**
             * @description Null once deleted.
             * @example GLdKtM
             */
            nickname?: string | null;
            state: components["schemas"]["UserState"];
            /**
             * Format: int64
             * @example 7
             */
            user_id: number;
        };
        ListInput: {
            /**
             * Format: int64
             * @description From 1 (default 1).
             * @example 1
             */
            page?: number | null;
            /**
             * Format: int64
             * @description 1–100 (default 20).
             * @example 20
             */
            size?: number | null;
            /**
             * @description `follow` (whom I follow), `fans` (who follows me), `friend` (both), `black` or
             *     `block` (whom I blocked).
             */
            type: components["schemas"]["ListType"];
        };
        /**
         * @description A list of the caller's (surrounding spaces are ignored).
         * @enum {string}
         */
        ListType: "follow" | "fans" | "friend" | "black" | "block";
        OperationInput: {
            to_user_id: number | string;
            /** @description `follow`, `unfollow`, `block` or `unblock`. */
            type: components["schemas"]["OperationType"];
        };
        /**
         * @description An operation on a relation (surrounding spaces are ignored).
         * @enum {string}
         */
        OperationType: "follow" | "unfollow" | "block" | "unblock";
        PageInfo: {
            /**
             * Format: int64
             * @example 1
             */
            page: number;
            /**
             * Format: int64
             * @example 20
             */
            size: number;
            /**
             * Format: int64
             * @example 1
             */
            totalCount: number;
            /**
             * Format: int64
             * @example 1
             */
            totalPage: number;
        };
        /** @description How `user_id` stands with the user who asked about it (`/internal/relations/check`). */
        PairState: {
            /** @description This one blocks the asking user. */
            blocked_by: boolean;
            /** @description The asking user blocks this one. */
            blocks: boolean;
            /** @description A live user (false for an unknown or deleted id, whose flags are all false). */
            exists: boolean;
            /** @description This one follows the asking user. */
            followed_by: boolean;
            /** @description The asking user follows this one. */
            follows: boolean;
            /**
             * Format: int64
             * @example 7
             */
            user_id: number;
        };
        /** @description A registered phone contact: the contact, and the number as the caller gave it. */
        PhoneContact: {
            /** @description The avatar's URL, or null. */
            avatar?: string | null;
            /** @example whaha12 */
            nickname: string;
            /** @example 16533333333 */
            phone: string;
            /**
             * Format: int64
             * @example 12
             */
            user_id: number;
        };
        /** @description updateuserinfo's `data`: `user_id` is a string there, as in the seed. */
        ProfileData: {
            /** @description The avatar's URL, or null. */
            avatar?: string | null;
            /** @example ivan */
            nickname: string;
            /**
             * @description The user's id, as a string (as the seed has it).
             * @example 146382
             */
            user_id: string;
        };
        ProfileInput: {
            /**
             * @description 1–20 characters after trimming; no control or format characters.
             * @example ivan
             */
            nickname?: string | null;
        };
        /** @description updateuserinfo's multipart body. */
        ProfileUpload: {
            /**
             * Format: binary
             * @description JPEG, PNG, WebP or GIF (first frame), at most 5 MiB; an empty part counts as none.
             */
            avatar?: string | null;
            /** @description 1–20 characters after trimming. */
            nickname?: string | null;
        };
        Readiness: {
            /**
             * @description `disabled` (no broker configured), `connecting`, `up` or `down`.
             * @example up
             */
            broker: string;
            /**
             * @description `up` (when it is not, the answer is code 503).
             * @example up
             */
            database: string;
            outbox: components["schemas"]["Backlog"];
        };
        RelationCheck: {
            /** @description One per id asked, in the order asked. */
            items: components["schemas"]["PairState"][];
            /**
             * Format: int64
             * @description The last seq published when the relations were read: every change published up
             *     to it is in the answer.
             * @example 1042
             */
            seq: number;
        };
        RevokeInput: {
            /**
             * @description `web`, `h5`, `android` or `ios`; absent: every device.
             * @example android
             */
            device?: string | null;
            /** @description The user to sign out. */
            user_id: components["schemas"]["UserId"];
        };
        SendInput: {
            /**
             * @description Country calling code without `+`.
             * @example 86
             */
            nation_code: string;
            /**
             * @description The national mobile number.
             * @example 16522222222
             */
            phone: string;
        };
        /** @description One of sessionlist's items. */
        SessionItem: {
            /**
             * Format: int64
             * @description Unix seconds.
             * @example 1764563400
             */
            created_at: number;
            /** @description The session this request used. */
            current: boolean;
            /** @example android */
            device: string;
            /**
             * @description Only the last 4 characters, after `…` (empty when the device sent none).
             * @example …dkci
             */
            device_id: string;
            /**
             * Format: int64
             * @description Unix seconds; recorded at most once per `session.touch_interval_secs`.
             */
            last_active_at: number;
        };
        /** @description signinbysms's `data`, field types exactly as the contract has them. */
        SignInData: {
            /** @description The avatar's URL, or null. */
            avatar?: string | null;
            /** @description A JWT for the IM server: claims `{"unique_name": <user_id>, "exp": …}`. */
            im_token: string;
            /**
             * Format: int32
             * @description 1 on the number's first sign-in (the user was created), else 0.
             */
            is_first_login: number;
            /**
             * Format: int64
             * @description Unix seconds of the previous sign-in (of this one on the first).
             * @example 1609855258
             */
            last_seen: number;
            /** @example GLdKtM */
            nickname: string;
            /**
             * Format: int32
             * @description 0 for an ordinary user.
             * @example 0
             */
            role: number;
            /**
             * @description The session token: send it as the `token` header.
             * @example 63d128f9a25196029526506804d1b0c9
             */
            token: string;
            /**
             * Format: int64
             * @example 8
             */
            user_id: number;
        };
        SignInInput: {
            check_code: number | string;
            /** @description `web`, `h5`, `android` or `ios`. */
            device: components["schemas"]["DeviceType"];
            /**
             * @description Required for android and ios: up to 128 printable characters.
             * @example qbfkdvkjdckci
             */
            device_id?: string | null;
            /**
             * @description Country calling code without `+`.
             * @example 86
             */
            nation_code: string;
            /**
             * @description The national mobile number.
             * @example 16522222222
             */
            phone: string;
        };
        SnapshotPage: {
            /** @description Pairs for `follows` and `blocks`, users for `users` */
            items: {
                /**
                 * Format: int64
                 * @example 6
                 */
                from_user_id: number;
                /**
                 * Format: int64
                 * @example 7
                 */
                to_user_id: number;
            }[] | {
                /** @description The avatar's URL, or null. */
                avatar?: string | null;
                /** @description RFC 3339, while banned with an end; else null. */
                banned_until?: string | null;
                /**
                 * @description Null once deleted.
                 * @example GLdKtM
                 */
                nickname?: string | null;
                state: components["schemas"]["UserState"];
                /**
                 * Format: int64
                 * @example 7
                 */
                user_id: number;
            }[];
            /** @description Pass as `after` for the next page; null on the last one. */
            next?: string | null;
            /**
             * Format: int64
             * @description The last seq published when the walk's first page was read; the same on every
             *     page of the walk. Apply the events after it to what the pages hold.
             * @example 1042
             */
            snapshot_seq: number;
        };
        /** @description `/admin/users/lookup`'s `data`. */
        UserCard: {
            /** @description The avatar's URL, or null. */
            avatar?: string | null;
            /**
             * @description Null unless banned.
             * @example spam
             */
            ban_reason?: string | null;
            /**
             * @description RFC 3339, or null: not banned, or banned with no end.
             * @example 2026-12-24T00:00:00.000Z
             */
            banned_until?: string | null;
            counts: components["schemas"]["Counts"];
            /**
             * Format: int64
             * @description Unix seconds.
             * @example 1764547200
             */
            created_at: number;
            /**
             * Format: int64
             * @description Unix seconds: the last sign-in or session use, whichever is later.
             * @example 1764550800
             */
            last_seen: number;
            /** @example 86 */
            nation_code: string;
            /** @example GLdKtM */
            nickname: string;
            /** @example 16522222222 */
            phone: string;
            /** @description Live sessions, oldest first, device ids in full; `current` is always false here. */
            sessions: components["schemas"]["SessionItem"][];
            /**
             * @description `active` or `banned` (a deleted user is not found).
             * @example banned
             */
            state: string;
            /**
             * Format: int64
             * @example 8
             */
            user_id: number;
        };
        /** @description A user id: a positive integer (a string of digits is accepted) */
        UserId: number | string;
        UserInput: {
            /** @description The user. */
            user_id: components["schemas"]["UserId"];
        };
        /**
         * @description An account's state as the IM server sees it.
         * @enum {string}
         */
        UserState: "active" | "banned" | "deleted";
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    jwks: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Plain JWKS (RFC 7517), not the envelope: the public keys of every configured Ed25519 key, each {kty: OKP, crv: Ed25519, x, kid, alg: EdDSA, use: sig}, to verify im_token and action tokens by their kid. HS256 secrets are never published: with HS256 only it is {"keys": []} */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": Record<string, never>;
                };
            };
        };
    };
    change_phone: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ChangePhoneInput"];
                "application/x-www-form-urlencoded": components["schemas"]["ChangePhoneInput"];
                "multipart/form-data": components["schemas"]["ChangePhoneInput"];
            };
        };
        responses: {
            /** @description Codes: 0; 1 无效的号码, 无效的用户信息 (code), 号码已被使用 (another account's); 401; 429 (Retry-After) */
            200: {
                headers: {
                    /** @description Seconds to wait, with code 429 */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
            /** @description Body over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    delete_account: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["DeleteInput"];
                "application/x-www-form-urlencoded": components["schemas"]["DeleteInput"];
                "multipart/form-data": components["schemas"]["DeleteInput"];
            };
        };
        responses: {
            /** @description Codes: 0; 1 无效的用户信息 (code); 401; 429 (Retry-After); 500 if the database failed mid-way (nothing changed) */
            200: {
                headers: {
                    /** @description Seconds to wait, with code 429 */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
            /** @description Body over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    get_im_token: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ImTokenInput"];
                "application/x-www-form-urlencoded": components["schemas"]["ImTokenInput"];
                "multipart/form-data": components["schemas"]["ImTokenInput"];
            };
        };
        responses: {
            /** @description data is the JWT. Codes: 0; 1 unknown member or bad act/members; 401; 403 a member blocked you */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_String"];
                };
            };
            /** @description Body over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    logout: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Codes: 0; 401 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    revoke_session: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["DeviceInput"];
                "application/x-www-form-urlencoded": components["schemas"]["DeviceInput"];
                "multipart/form-data": components["schemas"]["DeviceInput"];
            };
        };
        responses: {
            /** @description Codes: 0; 1 参数 device 无效 / 缺少参数 device; 401 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
            /** @description Body over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    search_by_nickname: {
        parameters: {
            query: {
                /**
                 * @description The exact nickname.
                 * @example whaha12
                 */
                nickname: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Codes: 0; 1 没有使用该昵称的用户 (nobody); 401; 429 lookups per hour (Retry-After) */
            200: {
                headers: {
                    /** @description Seconds to wait, with code 429 */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Contact"];
                };
            };
        };
    };
    search_by_nickname_post: {
        parameters: {
            query: {
                /**
                 * @description The exact nickname.
                 * @example whaha12
                 */
                nickname: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Codes: 0; 1 没有使用该昵称的用户 (nobody); 401; 429 lookups per hour (Retry-After) */
            200: {
                headers: {
                    /** @description Seconds to wait, with code 429 */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Contact"];
                };
            };
        };
    };
    search_by_unique_name: {
        parameters: {
            query: {
                /**
                 * @description User ids, up to 100, answered in this order: `unique_names=6&unique_names=7`
                 *     (or PHP's `unique_names[]=6&unique_names[]=7`, or `6,7`).
                 * @example [
                 *       6,
                 *       7
                 *     ]
                 */
                unique_names: components["schemas"]["UserId"][];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description One page holding the users found. Codes: 0; 1 bad or too many ids; 401; 429 lookups per hour (Retry-After) */
            200: {
                headers: {
                    /** @description Seconds to wait, with code 429 */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_ContactPage"];
                };
            };
        };
    };
    search_by_unique_name_post: {
        parameters: {
            query: {
                /**
                 * @description User ids, up to 100, answered in this order: `unique_names=6&unique_names=7`
                 *     (or PHP's `unique_names[]=6&unique_names[]=7`, or `6,7`).
                 * @example [
                 *       6,
                 *       7
                 *     ]
                 */
                unique_names: components["schemas"]["UserId"][];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description One page holding the users found. Codes: 0; 1 bad or too many ids; 401; 429 lookups per hour (Retry-After) */
            200: {
                headers: {
                    /** @description Seconds to wait, with code 429 */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_ContactPage"];
                };
            };
        };
    };
    session_list: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Codes: 0; 401 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Vec_SessionItem"];
                };
            };
        };
    };
    signin: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["SignInInput"];
                "application/x-www-form-urlencoded": components["schemas"]["SignInInput"];
                "multipart/form-data": components["schemas"]["SignInInput"];
            };
        };
        responses: {
            /** @description Codes: 0; 1 无效的号码 (number), 无效的用户信息 (wrong, expired or used code), 缺少参数/参数无效; 403 账号已被封禁 (banned); 429 after 5 wrong tries or past the per-address budget (Retry-After); 503 */
            200: {
                headers: {
                    /** @description Seconds to wait, with code 429 */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_SignInData"];
                };
            };
            /** @description Body over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    update_user_info_put: {
        parameters: {
            query?: {
                /**
                 * @description 1–20 characters after trimming; no control or format characters.
                 * @example ivan
                 */
                nickname?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ProfileInput"];
                "application/x-www-form-urlencoded": components["schemas"]["ProfileInput"];
                "multipart/form-data": components["schemas"]["ProfileUpload"];
            };
        };
        responses: {
            /** @description Codes: 0; 1 修改失败 (no nickname or avatar, a bad nickname); 401; 415 not an image; 429 avatar uploads per hour (Retry-After); 503 too many decodes at once (Retry-After) */
            200: {
                headers: {
                    /** @description Seconds to wait, with code 429 or 503 */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_ProfileData"];
                };
            };
            /** @description Body or file over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    update_user_info: {
        parameters: {
            query?: {
                /**
                 * @description 1–20 characters after trimming; no control or format characters.
                 * @example ivan
                 */
                nickname?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ProfileInput"];
                "application/x-www-form-urlencoded": components["schemas"]["ProfileInput"];
                "multipart/form-data": components["schemas"]["ProfileUpload"];
            };
        };
        responses: {
            /** @description Codes: 0; 1 修改失败 (no nickname or avatar, a bad nickname); 401; 415 not an image; 429 avatar uploads per hour (Retry-After); 503 too many decodes at once (Retry-After) */
            200: {
                headers: {
                    /** @description Seconds to wait, with code 429 or 503 */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_ProfileData"];
                };
            };
            /** @description Body or file over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    audit: {
        parameters: {
            query?: {
                /** @description Only the entries about this user. */
                user_id?: components["schemas"]["UserId"];
                after?: number | string;
                limit?: number | string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Codes: 0; 1 参数 limit/after/user_id 无效; 401. HTTP 404 when no admin key is configured */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Vec_AuditItem"];
                };
            };
        };
    };
    revoke: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["RevokeInput"];
                "application/x-www-form-urlencoded": components["schemas"]["RevokeInput"];
                "multipart/form-data": components["schemas"]["RevokeInput"];
            };
        };
        responses: {
            /** @description Codes: 0; 1 用户不存在, 参数 device 无效; 401. HTTP 404 when no admin key is configured */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
            /** @description Body over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    ban: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["BanInput"];
                "application/x-www-form-urlencoded": components["schemas"]["BanInput"];
                "multipart/form-data": components["schemas"]["BanInput"];
            };
        };
        responses: {
            /** @description Codes: 0; 1 用户不存在, 缺少参数 reason, 参数 reason 无效, 参数 until 无效 (not RFC 3339 or unix seconds, or not in the future); 401. HTTP 404 when no admin key is configured */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
            /** @description Body over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    delete: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["DeleteInput"];
                "application/x-www-form-urlencoded": components["schemas"]["DeleteInput"];
                "multipart/form-data": components["schemas"]["DeleteInput"];
            };
        };
        responses: {
            /** @description Codes: 0; 1 用户不存在, 缺少参数 reason, 参数 reason 无效; 401. HTTP 404 when no admin key is configured */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
            /** @description Body over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    lookup: {
        parameters: {
            query?: {
                /** @description The user's id; or give `nation_code` and `phone`. */
                user_id?: components["schemas"]["UserId"];
                /**
                 * @description With `phone`: find the user by number (`86` or `+86`).
                 * @example 86
                 */
                nation_code?: string;
                /**
                 * @description With `nation_code`.
                 * @example 16522222222
                 */
                phone?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Codes: 0; 1 用户不存在 (no such user; a deleted one included), 无效的号码, 缺少参数/参数无效; 401. HTTP 404 when no admin key is configured */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_UserCard"];
                };
            };
        };
    };
    unban: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["UserInput"];
                "application/x-www-form-urlencoded": components["schemas"]["UserInput"];
                "multipart/form-data": components["schemas"]["UserInput"];
            };
        };
        responses: {
            /** @description Codes: 0; 1 用户不存在, 缺少参数 user_id; 401. HTTP 404 when no admin key is configured */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
            /** @description Body over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    docs: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Self-contained: no script, no external request */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/html": string;
                };
            };
        };
    };
    healthz: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description data "ok" while the process runs */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    replay_events: {
        parameters: {
            query?: {
                /**
                 * @description Events with a seq greater than this (default 0).
                 * @example 41
                 */
                after_seq?: number;
                /**
                 * @description At most this many events, 1–1000 (default 100).
                 * @example 500
                 */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Codes: 0; 1 bad parameter; 401 wrong key. HTTP 404 when no IM-server key is configured */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_EventPage"];
                };
            };
        };
    };
    check: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CheckInput"];
                "application/x-www-form-urlencoded": components["schemas"]["CheckInput"];
                "multipart/form-data": components["schemas"]["CheckInput"];
            };
        };
        responses: {
            /** @description Codes: 0; 1 缺少参数/参数无效 (user_id, others; more than 1000 others); 401 wrong key. HTTP 404 when no IM-server key is configured */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_RelationCheck"];
                };
            };
            /** @description Body over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_RelationCheck"];
                };
            };
        };
    };
    snapshot: {
        parameters: {
            query: {
                /** @description What to walk. */
                kind: "follows" | "blocks" | "users";
                /** @description The `next` of the previous page; absent on the first page. */
                after?: string;
                /**
                 * @description Items per page, 1–5000 (default 1000).
                 * @example 1000
                 */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Codes: 0; 1 缺少参数 kind, 参数 kind/after/limit 无效 (an unknown kind, a cursor of another kind or that does not decode, a limit outside 1–5000); 401 wrong key. HTTP 404 when no IM-server key is configured */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_SnapshotPage"];
                };
            };
        };
    };
    users: {
        parameters: {
            query: {
                /**
                 * @description User ids, 1 to 1000, answered in this order: `ids[]=6&ids[]=7` (or `ids=6,7`).
                 * @example [
                 *       6,
                 *       7
                 *     ]
                 */
                ids: components["schemas"]["UserId"][];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Codes: 0; 1 缺少参数/参数无效 ids (more than 1000); 401 wrong key. HTTP 404 when no IM-server key is configured */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Vec_ImUser"];
                };
            };
        };
    };
    metrics: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Prometheus text format 0.0.4 (not the envelope) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
        };
    };
    openapi: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OpenAPI 3.1 (not the envelope) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": Record<string, never>;
                };
            };
        };
    };
    readyz: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Codes: 0 when the database answers; 503 when it does not. A broker outage does not make the server unready: events wait in the outbox */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Readiness"];
                };
            };
        };
    };
    contact_list: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ContactsInput"];
                "application/x-www-form-urlencoded": components["schemas"]["ContactsInput"];
                "multipart/form-data": components["schemas"]["ContactsInput"];
            };
        };
        responses: {
            /** @description The numbers with a user (who has not blocked the caller). Codes: 0; 1 缺少参数 phones / 参数 phones 数量过多; 401; 429 lookups per hour (Retry-After) */
            200: {
                headers: {
                    /** @description Seconds to wait, with code 429 */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Vec_PhoneContact"];
                };
            };
            /** @description Body over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    follow_list: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ListInput"];
                "application/x-www-form-urlencoded": components["schemas"]["ListInput"];
                "multipart/form-data": components["schemas"]["ListInput"];
            };
        };
        responses: {
            /** @description Codes: 0; 1 参数 type/page/size 无效; 401 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_ContactPage"];
                };
            };
            /** @description Body over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    operation: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["OperationInput"];
                "application/x-www-form-urlencoded": components["schemas"]["OperationInput"];
                "multipart/form-data": components["schemas"]["OperationInput"];
            };
        };
        responses: {
            /** @description Codes: 0; 1 用户不存在 (unknown user), 不能对自己进行此操作 (self), 参数 type 无效; 401; 403 对方已将你拉黑 (following someone who blocked you) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
            /** @description Body over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
    send: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["SendInput"];
                "application/x-www-form-urlencoded": components["schemas"]["SendInput"];
                "multipart/form-data": components["schemas"]["SendInput"];
            };
        };
        responses: {
            /** @description Codes: 0; 1 无效的号码 (not a mobile number), 暂不支持该国家或地区的号码; 429 cooldown, daily cap, per-address budget (Retry-After); 503 the SMS provider failed */
            200: {
                headers: {
                    /** @description Seconds to wait, with code 429 */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
            /** @description Body over the limit */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Envelope_Done"];
                };
            };
        };
    };
}
