//! The SQL shared by every key model, as a macro expanded inside each model's
//! `impl AbstractApiKey` (the built-in models and the derive's output).

/// Expands to the accessors and the query functions of [`crate::AbstractApiKey`]
/// for a struct with the base fields and a diesel `table!` module with the
/// base columns. Everything but `insert` and the associated types.
#[doc(hidden)]
#[macro_export]
macro_rules! __api_key_model_common {
    ($table:path, $model:ty) => {
        fn id(&self) -> &Self::Id {
            &self.id
        }
        fn prefix(&self) -> &str {
            &self.prefix
        }
        fn hashed_key(&self) -> &str {
            &self.hashed_key
        }
        fn name(&self) -> &str {
            &self.name
        }
        fn created_naive(&self) -> $crate::__private::NaiveDateTime {
            self.created
        }
        fn revoked(&self) -> bool {
            self.revoked
        }
        fn expiry_date_naive(&self) -> ::core::option::Option<$crate::__private::NaiveDateTime> {
            self.expiry_date
        }

        fn usable_keys(now: $crate::__private::NaiveDateTime) -> Self::Query {
            use $crate::__private::diesel::prelude::*;
            use $table as t;
            t::table
                .select(<$model as $crate::__private::diesel::SelectableHelper<
                    $crate::__private::Backend,
                >>::as_select())
                .filter(t::revoked.eq(false))
                .filter(t::expiry_date.is_null().or(t::expiry_date.gt($crate::sql_types::DjangoTimestamp(now))))
                .into_boxed()
        }

        fn first_by_prefix(
            conn: &mut $crate::__private::DbConnection,
            query: Self::Query,
            prefix: &str,
        ) -> $crate::__private::QueryResult<::core::option::Option<Self>> {
            use $crate::__private::diesel::prelude::*;
            use $table as t;
            // `get_result`, not `first`: the prefix is unique, and `first`
            // adds `LIMIT ?` with a bound 1, which makes SQLite re-prepare
            // the cached statement on every execution (rebinding a parameter
            // the planner looked at expires the statement).
            query
                .filter(t::prefix.eq(prefix.to_owned()))
                .get_result::<$model>(conn)
                .optional()
        }

        fn find_usable_by_prefix(
            conn: &mut $crate::__private::DbConnection,
            now: $crate::__private::NaiveDateTime,
            prefix: &str,
        ) -> $crate::__private::QueryResult<::core::option::Option<Self>> {
            use $crate::__private::diesel::prelude::*;
            use $table as t;
            // The conditions of `usable_keys`, in a query that is not boxed:
            // its SQL is fixed, so diesel caches the prepared statement.
            t::table
                .select(<$model as $crate::__private::diesel::SelectableHelper<
                    $crate::__private::Backend,
                >>::as_select())
                .filter(t::prefix.eq(prefix))
                .filter(t::revoked.eq(false))
                .filter(
                    t::expiry_date
                        .is_null()
                        .or(t::expiry_date.gt($crate::sql_types::DjangoTimestamp(now))),
                )
                .get_result::<$model>(conn) // unique prefix: no `LIMIT ?` (see above)
                .optional()
        }

        fn find_by_prefix(
            conn: &mut $crate::__private::DbConnection,
            prefix: &str,
        ) -> $crate::__private::QueryResult<::core::option::Option<Self>> {
            use $crate::__private::diesel::prelude::*;
            use $table as t;
            t::table
                .select(<$model as $crate::__private::diesel::SelectableHelper<
                    $crate::__private::Backend,
                >>::as_select())
                .filter(t::prefix.eq(prefix))
                .get_result::<$model>(conn) // unique prefix: no `LIMIT ?` (see above)
                .optional()
        }

        fn replace_hashed_key(
            conn: &mut $crate::__private::DbConnection,
            prefix: &str,
            old_hash: &str,
            new_hash: &str,
        ) -> $crate::__private::QueryResult<usize> {
            use $crate::__private::diesel::prelude::*;
            use $table as t;
            $crate::__private::diesel::update(
                t::table
                    .filter(t::prefix.eq(prefix))
                    .filter(t::hashed_key.eq(old_hash)),
            )
            .set(t::hashed_key.eq(new_hash))
            .execute(conn)
        }

        fn revoke_by_prefix(
            conn: &mut $crate::__private::DbConnection,
            prefix: &str,
        ) -> $crate::__private::QueryResult<usize> {
            use $crate::__private::diesel::prelude::*;
            use $table as t;
            $crate::__private::diesel::update(t::table.filter(t::prefix.eq(prefix)))
                .set(t::revoked.eq(true))
                .execute(conn)
        }

        fn update_details(
            conn: &mut $crate::__private::DbConnection,
            prefix: &str,
            name: &str,
            expiry_date: ::core::option::Option<$crate::__private::NaiveDateTime>,
        ) -> $crate::__private::QueryResult<usize> {
            use $crate::__private::diesel::prelude::*;
            use $table as t;
            $crate::__private::diesel::update(
                t::table
                    .filter(t::prefix.eq(prefix))
                    .filter(t::revoked.eq(false)),
            )
            .set((t::name.eq(name), t::expiry_date.eq($crate::sql_types::DjangoTimestamp::opt(expiry_date))))
            .execute(conn)
        }

        fn list(
            conn: &mut $crate::__private::DbConnection,
            filter: &$crate::KeyFilter,
        ) -> $crate::__private::QueryResult<::std::vec::Vec<Self>> {
            use $crate::__private::diesel::prelude::*;
            use $table as t;
            let mut query = t::table
                .select(<$model as $crate::__private::diesel::SelectableHelper<
                    $crate::__private::Backend,
                >>::as_select())
                .into_boxed();
            $crate::__api_key_model_common!(@filter query, t, filter);
            query = query.order((t::created.desc(), t::prefix.asc()));
            if let ::core::option::Option::Some(limit) = filter.limit {
                query = query.limit(limit);
            }
            if let ::core::option::Option::Some(offset) = filter.offset {
                query = query.offset(offset);
            }
            query.load::<$model>(conn)
        }

        fn count(
            conn: &mut $crate::__private::DbConnection,
            filter: &$crate::KeyFilter,
        ) -> $crate::__private::QueryResult<i64> {
            use $crate::__private::diesel::prelude::*;
            use $table as t;
            let mut query = t::table.count().into_boxed();
            $crate::__api_key_model_common!(@filter query, t, filter);
            query.get_result::<i64>(conn)
        }
    };
    (@filter $query:ident, $t:ident, $filter:ident) => {
        if let ::core::option::Option::Some(pattern) = $filter.like_pattern() {
            let pattern = pattern.to_lowercase();
            $query = $query.filter(
                $crate::__private::lower($t::name)
                    .like(pattern.clone())
                    .escape('\\')
                    .or($crate::__private::lower($t::prefix).like(pattern).escape('\\')),
            );
        }
        if let ::core::option::Option::Some(revoked) = $filter.revoked {
            $query = $query.filter($t::revoked.eq(revoked));
        }
        let now = $filter.now.unwrap_or_else($crate::now);
        match $filter.expired {
            ::core::option::Option::Some(true) => {
                $query = $query.filter($t::expiry_date.is_not_null().and($t::expiry_date.le($crate::sql_types::DjangoTimestamp(now))));
            }
            ::core::option::Option::Some(false) => {
                $query = $query.filter($t::expiry_date.is_null().or($t::expiry_date.gt($crate::sql_types::DjangoTimestamp(now))));
            }
            ::core::option::Option::None => {}
        }
        if let ::core::option::Option::Some(after) = $filter.created_after {
            $query = $query.filter($t::created.ge($crate::sql_types::DjangoTimestamp(after)));
        }
        if let ::core::option::Option::Some(before) = $filter.created_before {
            $query = $query.filter($t::created.lt($crate::sql_types::DjangoTimestamp(before)));
        }
    };
}

/// The boxed query type of a model whose table is `$table` (the `table`
/// struct of a diesel `table!` module). Filters do not change a boxed query's
/// type, so this is also the type of every narrowed query.
#[doc(hidden)]
#[macro_export]
macro_rules! __api_key_query_type {
    ($table:ty, $model:ty) => {
        $crate::__private::diesel::helper_types::IntoBoxed<
            'static,
            $crate::__private::diesel::helper_types::Select<
                $table,
                $crate::__private::diesel::helper_types::AsSelect<$model, $crate::__private::Backend>,
            >,
            $crate::__private::Backend,
        >
    };
}
