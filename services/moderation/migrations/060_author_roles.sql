-- Issue 24 (item 2): the author's role as forum stated it in the post's event (NULL: an event from
-- before forum sent it). Moderators may not warn or suspend staff or admins; review.py reads the
-- author's role from here, or from account_states once forum has announced a role change.
ALTER TABLE posts ADD COLUMN author_role text;
